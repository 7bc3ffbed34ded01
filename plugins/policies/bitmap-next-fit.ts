/**
 * bitmap-next-fit: a guest's allocator over the DVMA ranges it holds, in the manner of the
 * Solaris/Linux sparc IOMMU arenas: one bit per page (1 = held and free), searched from a
 * next-fit hint that moves past each allocation, wrapping once to the start.
 *
 * Searches skip whole 32-bit words (a word of zeros is 32 used pages) and find the first free
 * bit with `Math.clz32`, so a single-page alloc or free near the hint is O(1) amortised.
 * The search is confined to the span of the held ranges, however big the window.
 */

import { definePlugin, type LocalPolicy, type PolicyStats, Type } from "../../core/index.ts";

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

/** Index of the lowest set bit of a non-zero 32-bit word. */
const ctz = (x: number) => 31 - Math.clz32(x & -x);

export class BitmapNextFitPolicy implements LocalPolicy {
  /** Bit p set = page p is held and free. */
  private readonly words: Uint32Array;
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
    this.words = new Uint32Array(Math.ceil(windowPages / 32));
    this.hints = new Array(Math.max(1, hintSlots)).fill(0);
  }

  addRange(base: number, npages: number): void {
    this.setBits(base, npages);
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
        this.clearBits(base, npages);
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
    let page = this.search(hint, this.hi, npages, align);
    if (page < 0 && hint > this.lo) page = this.search(this.lo, hint, npages, align);
    if (page < 0) {
      this.failures++;
      return -1;
    }
    this.clearBits(page, npages);
    this.allocated += npages;
    this.allocations++;
    this.hints[slot] = page + npages;
    return page;
  }

  free(page: number, npages: number, _cpu: number): void {
    this.setBits(page, npages);
    this.allocated -= npages;
  }

  stats(): PolicyStats {
    const free = this.held - this.allocated;
    const largest = this.largestRun();
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

  /** First aligned start s in [from, startLimit) with pages [s, s + npages) all free, or -1. */
  private search(from: number, startLimit: number, npages: number, align: number): number {
    const mask = align - 1;
    let pos = from;
    for (;;) {
      let s = this.nextFree(pos, startLimit);
      if (s < 0) return -1;
      if ((s & mask) !== 0) {
        s = (s + mask) & ~mask;
        if (s >= startLimit) return -1;
        if (!this.isFree(s)) {
          pos = s;
          continue;
        }
      }
      if (npages === 1) return s;
      const end = s + npages;
      if (end > this.hi) return -1;
      const used = this.nextUsed(s + 1, end);
      if (used >= end) return s;
      pos = used + 1;
    }
  }

  private isFree(p: number): boolean {
    return (this.words[p >>> 5] & (1 << (p & 31))) !== 0;
  }

  /** First free page in [from, limit), or -1. */
  private nextFree(from: number, limit: number): number {
    if (from >= limit) return -1;
    let w = from >>> 5;
    let word = this.words[w] & (-1 << (from & 31));
    for (;;) {
      if (word !== 0) {
        const p = (w << 5) + ctz(word);
        return p < limit ? p : -1;
      }
      w++;
      if (w << 5 >= limit) return -1;
      word = this.words[w];
    }
  }

  /** First page in [from, limit) that is not free, or `limit`. */
  private nextUsed(from: number, limit: number): number {
    if (from >= limit) return limit;
    let w = from >>> 5;
    let word = ~this.words[w] & (-1 << (from & 31));
    for (;;) {
      if (word !== 0) return Math.min((w << 5) + ctz(word), limit);
      w++;
      if (w << 5 >= limit) return limit;
      word = ~this.words[w];
    }
  }

  private setBits(start: number, n: number): void {
    const end = start + n;
    for (let p = start; p < end; ) {
      const b = p & 31;
      const cnt = Math.min(32 - b, end - p);
      this.words[p >>> 5] |= cnt === 32 ? -1 : ((1 << cnt) - 1) << b;
      p += cnt;
    }
  }

  private clearBits(start: number, n: number): void {
    const end = start + n;
    for (let p = start; p < end; ) {
      const b = p & 31;
      const cnt = Math.min(32 - b, end - p);
      this.words[p >>> 5] &= cnt === 32 ? 0 : ~(((1 << cnt) - 1) << b);
      p += cnt;
    }
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

  private largestRun(): number {
    let best = 0;
    let p = this.nextFree(this.lo, this.hi);
    while (p >= 0) {
      const end = this.nextUsed(p, this.hi);
      if (end - p > best) best = end - p;
      p = this.nextFree(end, this.hi);
    }
    return best;
  }
}
