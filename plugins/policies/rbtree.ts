/**
 * rbtree: a guest allocator in the manner of Linux `drivers/iommu/iova.c`.
 *
 * An ordered set of ranges: the allocations, one "reserved" range per stretch of the window
 * the guest does not hold, and an anchor just past the window; free space is the gaps between
 * them. `top-down` (iova.c's default) searches down from a cached range (the last allocation,
 * moved up when something at or above it is freed), places the request at the top of the
 * first gap that fits, and retries once from the anchor down; a failed unaligned size is
 * remembered so larger requests fail at once until something is freed (iova.c's
 * `max32_alloc_size`). `best-fit` walks every gap and takes the smallest that fits.
 *
 * The kernel's red-black tree is stood in for by a B+-tree-like list of sorted leaves
 * (range-list.ts): the same ordered ranges and the same answers, with ranges packed in memory
 * and leaves that cannot fit a request skipped whole. A free must name whole allocations or
 * pieces of them.
 */

import { definePlugin, type LocalPolicy, type PolicyStats, Type } from "../../core/index.ts";
import { RangeList } from "./range-list.ts";

const options = Type.Object(
  {
    mode: Type.Union([Type.Literal("top-down"), Type.Literal("best-fit")], {
      default: "top-down",
      description: "top-down from a cached node (iova.c default) or the smallest gap that fits",
    }),
  },
  { additionalProperties: false },
);

export type RbTreeMode = "top-down" | "best-fit";

export default definePlugin({
  name: "rbtree",
  kind: "policy.local",
  version: "1.0.0",
  description: "Local DVMA policy: iova.c range tree, top-down from a cached node (or best fit)",
  options,
  setup(_ctx, opts) {
    return ({ windowPages }) => new RbTreePolicy(windowPages, opts.mode);
  },
});

const ALLOCATED = 0;
const RESERVED = 1;
const ANCHOR = 2;

export class RbTreePolicy implements LocalPolicy {
  private readonly ranges = new RangeList();
  /** First page of the anchor range (just past the window). */
  private readonly anchor: number;
  /** Where a top-down search starts (a range's first page): the last allocation, or the range above a recent free. */
  private cached: number;
  /** Smallest unaligned size that failed since the last free (iova.c `max32_alloc_size`). */
  private failedSize = Number.POSITIVE_INFINITY;
  private held = 0;
  private allocated = 0;
  private allocations = 0;
  private failures = 0;
  private liveRanges = 0;

  constructor(
    windowPages: number,
    private readonly mode: RbTreeMode = "top-down",
  ) {
    this.ranges.insert(0, windowPages, RESERVED);
    this.ranges.insert(windowPages, windowPages + 1, ANCHOR);
    this.anchor = this.cached = windowPages;
  }

  addRange(base: number, npages: number): void {
    const r = this.ranges;
    const end = base + npages;
    if (!r.seek(base) || r.curTag !== RESERVED || r.curHi < end) {
      throw new Error(`addRange [${base}, ${end}): part of it is already held`);
    }
    const rl = r.curLo;
    const rh = r.curHi;
    if (rl === base && rh === end) r.remove();
    else if (rl === base) r.setLo(end);
    else {
      r.setHi(base);
      if (rh > end) r.insert(end, rh, RESERVED);
    }
    this.held += npages;
    this.cached = this.anchor;
    this.failedSize = Number.POSITIVE_INFINITY;
  }

  removeRange(base: number, npages: number): void {
    const r = this.ranges;
    const end = base + npages;
    const below = r.seek(end - 1);
    if (below && r.curHi > base) {
      throw new Error(`removeRange [${base}, ${end}): not all of it is held and free`);
    }
    if (below && r.curTag === RESERVED && r.curHi === base) r.setHi(end);
    else r.insert(base, end, RESERVED);
    // The cursor is on the reserved range ending at `end`; join the one above if it touches.
    r.next();
    if (r.curTag === RESERVED && r.curLo === end) {
      const aboveEnd = r.curHi;
      r.remove();
      r.prev();
      r.setHi(aboveEnd);
    }
    this.held -= npages;
    this.cached = this.anchor;
  }

  alloc(npages: number, align: number, _cpu: number): number {
    if (npages > this.held - this.allocated || npages >= this.failedSize) {
      this.failures++;
      return -1;
    }
    const mask = align - 1;
    const found =
      this.mode === "top-down" ? this.topDown(npages, mask) : this.bestFit(npages, mask);
    if (!found) {
      if (align === 1) this.failedSize = npages;
      this.failures++;
      return -1;
    }
    const r = this.ranges;
    const page = (r.curLo - npages) & ~mask;
    r.insertBelow(page, page + npages, ALLOCATED);
    this.cached = page;
    this.liveRanges++;
    this.allocated += npages;
    this.allocations++;
    return page;
  }

  free(page: number, npages: number, _cpu: number): void {
    const r = this.ranges;
    if (r.seek(page) && r.curLo === page && r.curHi === page + npages && r.curTag === ALLOCATED) {
      // iova.c: freeing at or above the cached range moves the cache to the range above.
      const moveCache = page >= this.cached;
      r.remove();
      if (moveCache) this.cached = r.curLo;
      this.liveRanges--;
    } else this.freePieces(page, npages);
    this.allocated -= npages;
    this.failedSize = Number.POSITIVE_INFINITY;
  }

  stats(): PolicyStats {
    const free = this.held - this.allocated;
    const largest = this.ranges.largestGap();
    return {
      allocatedPages: this.allocated,
      freePages: free,
      allocations: this.allocations,
      failures: this.failures,
      heldPages: this.held,
      allocationRanges: this.liveRanges,
      freeGaps: this.ranges.gaps(),
      largestFreeRun: largest,
      fragmentation: free === 0 ? 0 : 1 - largest / free,
    };
  }

  /** Puts the cursor on the range whose gap takes the request: down from the cache, then once from the top. */
  private topDown(n: number, mask: number): boolean {
    const r = this.ranges;
    r.seek(this.cached);
    if (r.fitDown(n, mask)) return true;
    // Failing below the cached range, only gaps above it are left.
    if (this.cached === this.anchor) return false;
    r.seek(this.anchor);
    return r.fitDown(n, mask);
  }

  /** Puts the cursor on the range above the smallest gap that takes the request: a walk over every range. */
  private bestFit(n: number, mask: number): boolean {
    const r = this.ranges;
    r.seek(this.anchor);
    let best = -1;
    let bestGap = Number.POSITIVE_INFINITY;
    do {
      const gap = r.curGap;
      if (gap >= n && gap < bestGap && r.fitsHere(n, mask)) {
        best = r.curLo;
        bestGap = gap;
        if (gap === n) break;
      }
    } while (r.prev());
    return best >= 0 && r.seek(best);
  }

  /** Frees [page, page + npages) when it is not exactly one allocation: trims and splits ranges. */
  private freePieces(page: number, npages: number): void {
    const r = this.ranges;
    const end = page + npages;
    for (let p = page; p < end; ) {
      if (!r.seek(p) || r.curTag !== ALLOCATED || r.curHi <= p) {
        throw new Error(`free [${page}, ${end}): page ${p} is not allocated`);
      }
      p = r.curHi;
    }
    for (let p = page; p < end; ) {
      r.seek(p);
      const xl = r.curLo;
      const xh = r.curHi;
      const cut = Math.min(end, xh);
      if (xl === p && cut === xh) {
        r.remove();
        this.liveRanges--;
      } else if (xl === p) r.setLo(cut);
      else {
        r.setHi(p);
        if (cut < xh) {
          r.insert(cut, xh, ALLOCATED);
          this.liveRanges++;
        }
      }
      p = cut;
    }
    this.cached = this.anchor;
  }
}
