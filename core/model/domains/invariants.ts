import type { Hypervisor } from "../hv/hypervisor.ts";
import { iommuViolations } from "../hv/invariants.ts";
import type { Iommu } from "../iommu/iommu.ts";
import { PAGE_SIZE } from "../machine/memory.ts";
import type { DvmaBroker } from "./broker.ts";

/**
 * Every safety invariant of DESIGN section 1 that can be read off the machine at any instant:
 * the hypervisor's own (hv/invariants.ts) and, with a broker that is up, invariant 3 (the
 * broker's ledger equals the hypervisor's ownership table). One line per violation, per root
 * complex in order; empty = all hold. Reads state only.
 */
export function invariantViolations(hv: Hypervisor, broker?: DvmaBroker): string[] {
  const out: string[] = [];
  for (const io of hv.iommus.values()) {
    out.push(...iommuViolations(hv, io));
    if (broker?.isUp) out.push(...ledgerViolations(hv, broker, io));
  }
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
