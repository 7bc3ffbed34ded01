import type { Iommu } from "../iommu/iommu.ts";
import type { Hypervisor } from "./hypervisor.ts";

/**
 * The owned stretches of a window, flat [first, length, owner, ...] in entry order: the one pass
 * over the owner table that the checks below share, so the rest of their work follows what is
 * owned (and mapped), not the window's size.
 */
export function ownedRuns(io: Iommu): number[] {
  const out: number[] = [];
  const o = io.entryOwner;
  const n = o.length;
  for (let i = 0; i < n; ) {
    const w = o[i]!;
    if (w < 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < n && o[j] === w) j++;
    out.push(i, j - i, w);
    i = j;
  }
  return out;
}

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

/**
 * The hypervisor's invariants for one root complex's IOMMU. Entries are visited only where
 * owned; a valid TTE outside them shows as a count that does not add up, and only then is the
 * whole window searched to name it.
 */
export function iommuViolations(hv: Hypervisor, io: Iommu, runs = ownedRuns(io)): string[] {
  const out: string[] = [];
  const owner = hv.memory.owner;
  const tsb = io.iotsb;
  const tag = `rc ${io.devhandle}`;
  let owned = 0;
  let valid = 0;
  for (let r = 0; r < runs.length; r += 3) {
    const first = runs[r]!;
    const end = first + runs[r + 1]!;
    const entryOwner = runs[r + 2]!;
    const alive = hv.domains[entryOwner]?.alive === true;
    owned += end - first;
    for (let i = first; i < end; i++) {
      if (!tsb.isValid(i)) continue;
      valid++;
      // 1. A valid TTE points at a page owned by the domain that owns its DVMA entry.
      const pa = tsb.pa[i]!;
      if (owner[pa] !== entryOwner) {
        out.push(
          `${tag} entry ${i}: TTE -> page ${pa} owned by ${owner[pa]}, entry owned by ${entryOwner}`,
        );
      }
      // 4. Nothing of a dead domain stays mapped.
      if (!alive) out.push(`${tag} entry ${i}: TTE of dead domain ${entryOwner}`);
    }
  }
  if (owned !== io.ownedEntries)
    out.push(`${tag}: ${owned} entries owned, but the count says ${io.ownedEntries}`);
  if (valid !== tsb.valid) {
    let named = 0;
    for (let i = 0; i < io.windowPages; i++) {
      if (io.entryOwner[i]! < 0 && tsb.isValid(i)) {
        out.push(`${tag} entry ${i}: valid TTE in an unowned entry`);
        named++;
      }
    }
    if (valid + named !== tsb.valid)
      out.push(`${tag}: ${valid + named} valid TTEs, but the count says ${tsb.valid}`);
  }
  for (const i of io.iotlb.cachedIndices()) {
    // 4. No IOTLB entry survives its TTE.
    if (!tsb.isValid(i)) {
      out.push(`${tag} entry ${i}: IOTLB holds an entry whose TTE is invalid`);
      continue;
    }
    // 1 for the IOTLB: a translation MAP left cached (no flush) still reaches only the owner's pages.
    const pa = io.iotlb.paAt(io.iotlb.peek(i));
    const entryOwner = io.entryOwner[i]!;
    if (pa !== tsb.pa[i] && owner[pa] !== entryOwner)
      out.push(
        `${tag} entry ${i}: IOTLB -> page ${pa} owned by ${owner[pa]}, entry owned by ${entryOwner}`,
      );
  }
  return out;
}

/** Invariant 6: once every guest has exited, every entry is free and every TTE invalid. */
export function quiescentViolations(hv: Hypervisor): string[] {
  const out: string[] = [];
  for (const io of hv.iommus.values()) {
    if (io.iotsb.valid !== 0) out.push(`rc ${io.devhandle}: ${io.iotsb.valid} valid TTEs remain`);
    const runs = ownedRuns(io);
    let held = 0;
    for (let r = 1; r < runs.length; r += 3) held += runs[r]!;
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
