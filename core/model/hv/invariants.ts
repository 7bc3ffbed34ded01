import type { Iommu } from "../iommu/iommu.ts";
import type { Hypervisor } from "./hypervisor.ts";

/**
 * The safety invariants of DESIGN section 1 that the hypervisor's own state shows at any
 * instant. Returns one line per violation (empty = all hold). Reads state only. The invariant
 * that compares the broker's ledger with this table belongs to domains (domains/invariants.ts).
 */
export function hypervisorViolations(hv: Hypervisor): string[] {
  const out: string[] = [];
  for (const io of hv.iommus.values()) out.push(...iommuViolations(hv, io));
  return out;
}

/** The hypervisor's invariants for one root complex's IOMMU. */
export function iommuViolations(hv: Hypervisor, io: Iommu): string[] {
  const out: string[] = [];
  const owner = hv.memory.owner;
  const tag = `rc ${io.devhandle}`;
  const cached = new Set(io.iotlb.cachedIndices());
  const owned = io.entryOwner.reduce((n, o) => n + (o >= 0 ? 1 : 0), 0);
  if (owned !== io.ownedEntries)
    out.push(`${tag}: ${owned} entries owned, but the count says ${io.ownedEntries}`);
  for (let i = 0; i < io.windowPages; i++) {
    const entryOwner = io.entryOwner[i]!;
    if (io.iotsb.isValid(i)) {
      // 1. A valid TTE points at a page owned by the domain that owns its DVMA entry.
      const pa = io.iotsb.pa[i]!;
      if (entryOwner < 0) out.push(`${tag} entry ${i}: valid TTE in an unowned entry`);
      else if (owner[pa] !== entryOwner) {
        out.push(
          `${tag} entry ${i}: TTE -> page ${pa} owned by ${owner[pa]}, entry owned by ${entryOwner}`,
        );
      }
      // 4. Nothing of a dead domain stays mapped.
      if (entryOwner >= 0 && !hv.domains[entryOwner]?.alive)
        out.push(`${tag} entry ${i}: TTE of dead domain ${entryOwner}`);
    } else if (cached.has(i)) {
      // 4. No IOTLB entry survives its TTE.
      out.push(`${tag} entry ${i}: IOTLB holds an entry whose TTE is invalid`);
    }
  }
  return out;
}

/** Invariant 6: once every guest has exited, every entry is free and every TTE invalid. */
export function quiescentViolations(hv: Hypervisor): string[] {
  const out: string[] = [];
  for (const io of hv.iommus.values()) {
    if (io.iotsb.valid !== 0) out.push(`rc ${io.devhandle}: ${io.iotsb.valid} valid TTEs remain`);
    const held = io.entryOwner.reduce((n, o) => n + (o >= 0 ? 1 : 0), 0);
    if (held !== 0) out.push(`rc ${io.devhandle}: ${held} entries still owned`);
  }
  return out;
}
