import type { Hypervisor } from "../hv/hypervisor.ts";
import { iommuViolations, ownedRuns } from "../hv/invariants.ts";
import type { Iommu } from "../iommu/iommu.ts";
import { PAGE_SIZE } from "../machine/memory.ts";
import type { DvmaBroker } from "./broker.ts";
import type { GuestDmaApi } from "./guest-dma.ts";
import type { PageRange } from "./ranges.ts";

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
  const runsOf = new Map<number, number[]>();
  for (const io of hv.iommus.values()) {
    const runs = ownedRuns(io);
    runsOf.set(io.devhandle, runs);
    out.push(...iommuViolations(hv, io, runs));
    if (broker?.isUp) out.push(...ledgerViolations(hv, broker, io, runs));
  }
  for (const api of dma)
    out.push(...dmaApiViolations(hv, api, runsOf.get(api.accounting.devhandle)));
  return out;
}

/**
 * 7. Every valid TTE of a domain lies in an entry its local policy marks allocated (as far as a
 * checked policy tells), that awaits a deferred unmap, or that a per-map grant holds: a failed
 * map leaves nothing mapped behind. Visits only the entries the domain owns.
 */
export function dmaApiViolations(hv: Hypervisor, api: GuestDmaApi, runs?: number[]): string[] {
  const { domain, devhandle, policy, perMap, deferred } = api.accounting;
  const stateOf = (policy as { stateOf?: (page: number) => string }).stateOf;
  if (stateOf === undefined) return [];
  const io = hv.iommus.get(devhandle)!;
  const okRanges: [number, number][] = [];
  for (let i = 0; i < deferred.length; i += 2)
    okRanges.push([deferred[i]!, deferred[i]! + deferred[i + 1]!]);
  for (const [base, n] of perMap) okRanges.push([base, base + n]);
  okRanges.sort((a, b) => a[0] - b[0]);
  const owned = runs ?? ownedRuns(io);
  const out: string[] = [];
  let k = 0;
  let okEnd = -1;
  for (let r = 0; r < owned.length && out.length < 3; r += 3) {
    if (owned[r + 2] !== domain) continue;
    const end = owned[r]! + owned[r + 1]!;
    for (let i = owned[r]!; i < end && out.length < 3; i++) {
      while (k < okRanges.length && okRanges[k]![0] <= i)
        okEnd = Math.max(okEnd, okRanges[k++]![1]);
      if (i < okEnd || !io.iotsb.isValid(i)) continue;
      if (stateOf.call(policy, i) !== "allocated")
        out.push(`domain ${domain} entry ${i}: valid TTE that no mapping accounts for`);
    }
  }
  return out;
}

/** Window entries a domain's DMA API holds (its leases and per-map grants), in entry indices. */
export function heldGrants(api: GuestDmaApi): { base: number; npages: number }[] {
  const out = api.heldLeases.map((l) => ({ base: l.base, npages: l.npages }));
  for (const [base, npages] of api.accounting.perMap) out.push({ base, npages });
  return out;
}

/**
 * 3. The broker's ledger equals the hypervisor's ownership table of `io`: both are compared as
 * sorted stretches, so the work follows the grants and the owned runs, not the window.
 */
export function ledgerViolations(
  hv: Hypervisor,
  broker: DvmaBroker,
  io: Iommu,
  runs = ownedRuns(io),
): string[] {
  const out: string[] = [];
  const tag = `rc ${io.devhandle}`;
  const grants: [base: number, end: number, domain: number][] = [];
  for (const d of hv.domains) {
    const ranges = broker.grantsOf(d.id, io.devhandle);
    // A guest's ledger is its numbered grants, page for page (a restart rebuilds the ledger in
    // runs): a range without a number could never go back.
    if (d.id !== hv.control.id) {
      const numbered = JSON.stringify(merged(broker.numberedGrantsOf(d.id, io.devhandle)));
      const ledger = JSON.stringify(merged(ranges));
      if (numbered !== ledger) out.push(`${tag}: ${d.id}'s grants ${numbered}, ledger ${ledger}`);
    }
    for (const r of ranges) {
      if (r.base < 0 || r.base + r.npages > io.windowPages)
        out.push(`${tag}: grant ${r.base}+${r.npages} of ${d.id} leaves the window`);
      const base = Math.max(0, r.base);
      const end = Math.min(io.windowPages, r.base + r.npages);
      if (base < end) grants.push([base, end, d.id]);
    }
  }
  grants.sort((a, b) => a[0] - b[0]);
  // The ledger as stretches [first, length, domain] (an entry granted twice keeps its first grant).
  const ledger: number[] = [];
  let covered = 0;
  let coveredBy = -1;
  for (const [base, end, d] of grants) {
    for (let i = base; i < Math.min(end, covered); i++)
      out.push(`${tag} entry ${i}: granted to ${coveredBy} and ${d}`);
    const from = Math.max(base, covered);
    if (from < end) ledger.push(from, end - from, d);
    if (end > covered) {
      covered = end;
      coveredBy = d;
    }
  }
  const i = firstDifference(ledger, runs);
  if (i >= 0) {
    out.push(
      `${tag} entry ${i} (dvma 0x${(io.windowBase + i * PAGE_SIZE).toString(16)}): ledger says ${valueAt(ledger, i)}, hypervisor says ${io.entryOwner[i]}`,
    );
  }
  return out;
}

/** Sorted ranges with adjacent ones joined, as a ledger keeps them. */
function merged(rs: readonly PageRange[]): PageRange[] {
  const out: PageRange[] = [];
  for (const r of rs) {
    const last = out[out.length - 1];
    if (last !== undefined && last.base + last.npages === r.base) last.npages += r.npages;
    else out.push({ base: r.base, npages: r.npages });
  }
  return out;
}

/** The owner stretches `s` ([first, length, owner] sorted) give entry `i` (-1 outside them). */
function valueAt(s: number[], i: number): number {
  for (let r = 0; r < s.length; r += 3) if (s[r]! <= i && i < s[r]! + s[r + 1]!) return s[r + 2]!;
  return -1;
}

/** The first entry two sorted stretch lists give different owners, or -1. */
function firstDifference(a: number[], b: number[]): number {
  const points = new Set<number>([0]);
  for (const s of [a, b])
    for (let r = 0; r < s.length; r += 3) points.add(s[r]!).add(s[r]! + s[r + 1]!);
  const sorted = [...points].sort((x, y) => x - y);
  let ia = 0;
  let ib = 0;
  for (const p of sorted) {
    while (ia < a.length && a[ia]! + a[ia + 1]! <= p) ia += 3;
    while (ib < b.length && b[ib]! + b[ib + 1]! <= p) ib += 3;
    const va = ia < a.length && a[ia]! <= p ? a[ia + 2]! : -1;
    const vb = ib < b.length && b[ib]! <= p ? b[ib + 2]! : -1;
    if (va !== vb) return p;
  }
  return -1;
}
