import type { LocalPolicy, PolicyStats } from "../../core/index.ts";
import { PageBitmap } from "./page-bitmap.ts";

/**
 * What bitmap-based local policies share: a bitmap of held-and-free pages, the held ranges and
 * their span (searches never leave it), and the counters. A subclass only decides where `alloc`
 * looks; it hands its choice to `take`. Not a plugin: a helper the policy files import.
 */
export abstract class HeldBitmapPolicy implements LocalPolicy {
  /** Bit p set = page p is held and free. */
  protected readonly bits: PageBitmap;
  /** Held ranges: base → npages. */
  protected readonly ranges = new Map<number, number>();
  /** Pages [lo, hi) contain every held range. */
  protected lo = 0;
  protected hi = 0;
  protected held = 0;
  protected allocated = 0;
  private allocations = 0;
  private failures = 0;

  constructor(protected readonly windowPages: number) {
    this.bits = new PageBitmap(windowPages);
  }

  abstract alloc(npages: number, align: number, cpu: number, limit?: number): number;

  addRange(base: number, npages: number): void {
    this.bits.set(base, npages);
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
        this.bits.clear(base, npages);
        this.held -= npages;
        this.bounds();
        return;
      }
    }
    throw new Error(`removeRange [${base}, ${end}): not a held range`);
  }

  free(page: number, npages: number, _cpu: number): void {
    this.bits.set(page, npages);
    this.allocated -= npages;
  }

  stats(): PolicyStats {
    const free = this.held - this.allocated;
    const largest = this.bits.longestRun(this.lo, this.hi);
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

  /** False (and a counted failure) when fewer than `npages` held pages are free at all. */
  protected room(npages: number): boolean {
    if (npages <= this.held - this.allocated) return true;
    this.failures++;
    return false;
  }

  /** Allocates what the subclass found (-1 = nothing: a counted failure). */
  protected take(page: number, npages: number): number {
    if (page < 0) {
      this.failures++;
      return -1;
    }
    this.bits.clear(page, npages);
    this.allocated += npages;
    this.allocations++;
    return page;
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
