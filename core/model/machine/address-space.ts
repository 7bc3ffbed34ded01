import { PAGE_SIZE } from "./memory.ts";

/** One contiguous piece of a domain's real-address space and the physical pages behind it. */
export interface RaSegment {
  /** First real address (8 KiB aligned). */
  raBase: number;
  /** First physical page. */
  paPage: number;
  npages: number;
}

/**
 * A domain's real address (RA) -> physical page map, kept by the hypervisor. Lookups are linear
 * over segments: domains have one or a few, and the first is checked first.
 */
export class AddressSpace {
  readonly segments: readonly RaSegment[];
  readonly bytes: number;

  constructor(segments: RaSegment[]) {
    this.segments = segments.slice().sort((a, b) => a.raBase - b.raBase);
    this.bytes = segments.reduce((n, s) => n + s.npages * PAGE_SIZE, 0);
  }

  /** Physical page holding real address `ra`, or -1 if `ra` is not in this domain's memory. */
  paPageOf(ra: number): number {
    for (const s of this.segments) {
      const off = ra - s.raBase;
      if (off >= 0 && off < s.npages * PAGE_SIZE) return s.paPage + Math.floor(off / PAGE_SIZE);
    }
    return -1;
  }

  /** Real address of physical page `pa` in this domain, or -1. */
  raOfPage(pa: number): number {
    for (const s of this.segments) {
      const off = pa - s.paPage;
      if (off >= 0 && off < s.npages) return s.raBase + off * PAGE_SIZE;
    }
    return -1;
  }

  /** True if every byte of [ra, ra + len) is in this domain's memory. */
  contains(ra: number, len: number): boolean {
    if (!(len > 0)) return false;
    let at = ra;
    const end = ra + len;
    for (const s of this.segments) {
      const segEnd = s.raBase + s.npages * PAGE_SIZE;
      if (at >= s.raBase && at < segEnd) {
        if (end <= segEnd) return true;
        at = segEnd; // continues only if the next segment starts exactly here
      }
    }
    return false;
  }

  get firstRa(): number {
    return this.segments[0]?.raBase ?? 0;
  }
}

export const pageOf = (addr: number): number => Math.floor(addr / PAGE_SIZE);
export const pageAlignedDown = (addr: number): number => pageOf(addr) * PAGE_SIZE;
export const pagesSpanned = (addr: number, len: number): number =>
  len <= 0 ? 0 : pageOf(addr + len - 1) - pageOf(addr) + 1;
