import type { Hypervisor } from "../hv/hypervisor.ts";
import { iommuViolations } from "../hv/invariants.ts";
import type { Iommu } from "../iommu/iommu.ts";
import { PAGE_SIZE } from "../machine/memory.ts";
import type { DvmaBroker } from "./broker.ts";
import type { GuestDmaApi } from "./guest-dma.ts";

/**
 * Every safety invariant of DESIGN section 1 that can be read off the machine at any instant:
 * the hypervisor's own (hv/invariants.ts) and, with a broker that is up, invariant 3 (the
 * broker's ledger equals the hypervisor's ownership table) and, given DMA APIs, 7 (below). One
 * line per violation, per root complex in order; empty = all hold. Reads state only.
 */
export function invariantViolations(
  hv: Hypervisor,
  broker?: DvmaBroker,
  dma: Iterable<GuestDmaApi> = [],
): string[] {
  const out: string[] = [];
  for (const io of hv.iommus.values()) {
    out.push(...iommuViolations(hv, io));
    if (broker?.isUp) out.push(...ledgerViolations(hv, broker, io));
  }
  for (const api of dma) out.push(...dmaApiViolations(hv, api));
  return out;
}

/**
 * 7. Every valid TTE of a domain lies in an entry its local policy marks allocated (as far as a
 * checked policy tells), that awaits a deferred unmap, or that a per-map grant holds: a failed
 * map leaves nothing mapped behind.
 */
export function dmaApiViolations(hv: Hypervisor, api: GuestDmaApi): string[] {
  const { domain, devhandle, policy, perMap, deferred } = api.accounting;
  const io = hv.iommus.get(devhandle)!;
  const stateOf = (policy as { stateOf?: (page: number) => string }).stateOf;
  const ok = new Uint8Array(io.windowPages);
  for (let i = 0; i < deferred.length; i += 2)
    ok.fill(1, deferred[i]!, deferred[i]! + deferred[i + 1]!);
  for (const [base, n] of perMap) ok.fill(1, base, base + n);
  const out: string[] = [];
  for (let i = 0; i < io.windowPages && out.length < 3; i++) {
    if (io.entryOwner[i] !== domain || !io.iotsb.isValid(i) || ok[i] === 1) continue;
    if (stateOf !== undefined && stateOf.call(policy, i) !== "allocated")
      out.push(`domain ${domain} entry ${i}: valid TTE that no mapping accounts for`);
  }
  return out;
}

/** Window entries a domain's DMA API holds (its leases and per-map grants), in entry indices. */
export function heldGrants(api: GuestDmaApi): { base: number; npages: number }[] {
  const out = api.heldLeases.map((l) => ({ base: l.base, npages: l.npages }));
  for (const [base, npages] of api.accounting.perMap) out.push({ base, npages });
  return out;
}

/** 3. The broker's ledger equals the hypervisor's ownership table of `io`. */
export function ledgerViolations(hv: Hypervisor, broker: DvmaBroker, io: Iommu): string[] {
  const out: string[] = [];
  const tag = `rc ${io.devhandle}`;
  const ledger = new Int16Array(io.windowPages).fill(-1);
  for (const d of hv.domains) {
    for (const r of broker.grantsOf(d.id, io.devhandle)) {
      if (r.base < 0 || r.base + r.npages > io.windowPages)
        out.push(`${tag}: grant ${r.base}+${r.npages} of ${d.id} leaves the window`);
      for (let i = r.base; i < r.base + r.npages && i < io.windowPages; i++) {
        if (ledger[i] !== -1) out.push(`${tag} entry ${i}: granted to ${ledger[i]} and ${d.id}`);
        ledger[i] = d.id;
      }
    }
  }
  for (let i = 0; i < io.windowPages; i++) {
    if (ledger[i] !== io.entryOwner[i]) {
      out.push(
        `${tag} entry ${i} (dvma 0x${(io.windowBase + i * PAGE_SIZE).toString(16)}): ledger says ${ledger[i]}, hypervisor says ${io.entryOwner[i]}`,
      );
      break;
    }
  }
  return out;
}
