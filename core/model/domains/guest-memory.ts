import type { AddressSpace } from "../machine/address-space.ts";
import { PAGE_SIZE } from "../machine/memory.ts";

/**
 * The guest kernel's page allocator over its own real-address space (buffers, page lists,
 * descriptor rings). Next-fit over a byte-per-page map: simple, and off the DMA hot path.
 */
export class GuestMemory {
  private readonly used: Uint8Array;
  private hint = 0;
  private readonly raBase: number;
  freePages: number;

  constructor(mem: AddressSpace) {
    // Guests get one RA segment; the allocator covers it.
    const seg = mem.segments[0]!;
    this.raBase = seg.raBase;
    this.used = new Uint8Array(seg.npages);
    this.freePages = seg.npages;
  }

  /** RA of `npages` contiguous free pages, or -1. */
  alloc(npages: number): number {
    const n = this.used.length;
    let start = this.hint;
    let run = 0;
    for (let scanned = 0; scanned < n + npages; scanned++) {
      const p = (this.hint + scanned) % n;
      if (p === 0) run = 0; // runs never wrap
      if (this.used[p] === 0) {
        if (run === 0) start = p;
        if (++run === npages) {
          this.used.fill(1, start, start + npages);
          this.hint = (start + npages) % n;
          this.freePages -= npages;
          return this.raBase + start * PAGE_SIZE;
        }
      } else run = 0;
    }
    return -1;
  }

  free(ra: number, npages: number): void {
    const first = (ra - this.raBase) / PAGE_SIZE;
    for (let p = first; p < first + npages; p++) {
      if (this.used[p] !== 1) throw new RangeError(`guest page ${p} freed but not allocated`);
      this.used[p] = 0;
    }
    this.freePages += npages;
  }
}
