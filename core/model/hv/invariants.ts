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
      // 1 for the IOTLB: a translation MAP left cached (no flush) still reaches only the owner's pages.
      const stale = cached.has(i) ? io.iotlb.paAt(io.iotlb.peek(i)) : pa;
      if (stale !== pa && entryOwner >= 0 && owner[stale] !== entryOwner) {
        out.push(
          `${tag} entry ${i}: IOTLB -> page ${stale} owned by ${owner[stale]}, entry owned by ${entryOwner}`,
        );
      }
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

/**
 * Guest errors the hypervisor lets happen (they harm only the guest): each domain that mapped
 * over a valid entry without demapping it first, and each stale translation the IOTLB still
 * gives a device (sun4v v1 MAP does not flush). One line each; empty = none.
 */
export function guestErrors(hv: Hypervisor): string[] {
  const out: string[] = [];
  hv.remaps.forEach((n, d) => {
    if (n > 0) out.push(`${hv.domains[d]!.name}: ${n} MAPs over a valid entry without a demap`);
  });
  out.push(...staleTranslations(hv));
  return out;
}

/** Each translation the IOTLB gives a device that its valid TTE no longer says (MAP over MAP). */
export function staleTranslations(hv: Hypervisor): string[] {
  const out: string[] = [];
  for (const io of hv.iommus.values()) {
    const { iotlb, iotsb } = io;
    for (const i of iotlb.cachedIndices()) {
      if (!iotsb.isValid(i)) continue; // a hypervisor bug, not the guest's: iommuViolations names it
      const slot = iotlb.peek(i);
      if (iotlb.paAt(slot) === iotsb.pa[i] && iotlb.attrAt(slot) === iotsb.attr[i]) continue;
      out.push(
        `rc ${io.devhandle} entry ${i}: the IOTLB still translates to page ${iotlb.paAt(slot)}, the TTE to ${iotsb.pa[i]} (remapped without a demap)`,
      );
    }
  }
  return out;
}
