import type { DvmaBroker } from "../domains/broker.ts";
import { PAGE_SIZE } from "../machine/memory.ts";
import type { Hypervisor } from "./hypervisor.ts";

/**
 * The safety invariants of DESIGN section 1 that can be read off the machine's state at any
 * instant. Returns one line per violation (empty = all hold). Used by property tests and by
 * `--check` runs; it reads state only.
 */
export function invariantViolations(hv: Hypervisor, broker?: DvmaBroker): string[] {
  const out: string[] = [];
  const owner = hv.memory.owner;
  for (const io of hv.iommus.values()) {
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
    // 3. The broker's ledger equals the hypervisor's ownership table.
    if (broker?.isUp) {
      const ledger = new Int16Array(io.windowPages).fill(-1);
      for (const d of hv.domains) {
        for (const r of broker.grantsOf(d.id, io.devhandle)) {
          if (r.base < 0 || r.base + r.npages > io.windowPages)
            out.push(`${tag}: grant ${r.base}+${r.npages} of ${d.id} leaves the window`);
          for (let i = r.base; i < r.base + r.npages && i < io.windowPages; i++) {
            if (ledger[i] !== -1)
              out.push(`${tag} entry ${i}: granted to ${ledger[i]} and ${d.id}`);
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
