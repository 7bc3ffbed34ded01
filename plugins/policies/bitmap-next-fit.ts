/**
 * bitmap-next-fit: a guest's allocator over the DVMA ranges it holds, in the manner of the
 * Solaris/Linux sparc IOMMU arenas: one bit per page (1 = held and free), searched from a
 * next-fit hint that moves past each allocation, wrapping once to the start.
 *
 * The shared PageBitmap skips whole 32-bit words, so a single-page alloc or free near the hint
 * is O(1) amortised. The search is confined to the span of the held ranges, however big the
 * window.
 */

import { definePlugin, type LocalPolicy, type PolicyStats, Type } from "../../core/index.ts";
import { PageBitmap } from "./page-bitmap.ts";

const options = Type.Object(
  {
    perCpuHint: Type.Boolean({
      default: false,
      description:
        "keep one next-fit hint per virtual CPU (less sharing of IOTLB lines between CPUs)",
    }),
  },
  { additionalProperties: false },
);

export default definePlugin({
  name: "bitmap-next-fit",
  kind: "policy.local",
  version: "1.0.0",
  description: "Local DVMA policy: free-page bitmap searched next-fit from a hint, aligned",
  options,
  setup(_ctx, opts) {
    return ({ windowPages, cpus }) =>
      new BitmapNextFitPolicy(windowPages, opts.perCpuHint ? cpus : 1);
  },
});

export class BitmapNextFitPolicy implements LocalPolicy {
  /** Bit p set = page p is held and free. */
  private readonly freeBits: PageBitmap;
  /** Held ranges: base → npages. */
  private readonly ranges = new Map<number, number>();
  /** Next-fit hint per hint slot (one, or one per CPU). */
  private readonly hints: number[];
  /** Pages [lo, hi) contain every held range; searches never leave it. */
  private lo = 0;
  private hi = 0;
  private held = 0;
  private allocated = 0;
  private allocations = 0;
  private failures = 0;

  constructor(
    private readonly windowPages: number,
    hintSlots = 1,
  ) {
    this.freeBits = new PageBitmap(windowPages);
    this.hints = new Array(Math.max(1, hintSlots)).fill(0);
  }

  addRange(base: number, npages: number): void {
    this.freeBits.set(base, npages);
    this.ranges.set(base, npages);
    this.held += npages;
    this.bounds();
  }

  removeRange(base: number, npages: number): void {
    const end = base + npages;
    // Usually exactly a range that was added; a piece of one is split out.
    for (const [s, n] of this.ranges) {
      if (s <= base && end <= s + n) {
        this.ranges.delete(s);
        if (base > s) this.ranges.set(s, base - s);
        if (end < s + n) this.ranges.set(end, s + n - end);
        this.freeBits.clear(base, npages);
        this.held -= npages;
        this.bounds();
        return;
      }
    }
    throw new Error(`removeRange [${base}, ${end}): not a held range`);
  }

  alloc(npages: number, align: number, cpu: number): number {
    if (npages > this.held - this.allocated) {
      this.failures++;
      return -1;
    }
    const slot = this.hints.length === 1 ? 0 : cpu % this.hints.length;
    const hint = Math.min(Math.max(this.hints[slot], this.lo), this.hi);
    let page = this.freeBits.findRun(hint, this.hi, this.hi, npages, align);
    if (page < 0 && hint > this.lo)
      page = this.freeBits.findRun(this.lo, hint, this.hi, npages, align);
    if (page < 0) {
      this.failures++;
      return -1;
    }
    this.freeBits.clear(page, npages);
    this.allocated += npages;
    this.allocations++;
    this.hints[slot] = page + npages;
    return page;
  }

  free(page: number, npages: number, _cpu: number): void {
    this.freeBits.set(page, npages);
    this.allocated -= npages;
  }

  stats(): PolicyStats {
    const free = this.held - this.allocated;
    const largest = this.freeBits.longestRun(this.lo, this.hi);
    return {
      allocatedPages: this.allocated,
      freePages: free,
      allocations: this.allocations,
      failures: this.failures,
      heldPages: this.held,
      ranges: this.ranges.size,
      largestFreeRun: largest,
      fragmentation: free === 0 ? 0 : 1 - largest / free,
    };
  }

  private bounds(): void {
    let lo = this.windowPages;
    let hi = 0;
    for (const [s, n] of this.ranges) {
      if (s < lo) lo = s;
      if (s + n > hi) hi = s + n;
    }
    this.lo = hi === 0 ? 0 : lo;
    this.hi = hi;
  }
}
