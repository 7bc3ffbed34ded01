/**
 * The allocation walk of Linux `drivers/iommu/iova.c` (`__alloc_and_insert_iova_range`,
 * `iova_find_limit`, `__get_cached_rbnode`, `__cached_rbnode_insert_update`,
 * `__cached_rbnode_delete_update`), step for step over a red-black tree, and the O(log n)
 * alternative over the same tree augmented with subtree max gaps. Not a plugin: the
 * iova-rbtree, iova-augmented and iova-rcache plugins build on it.
 *
 * Linux limits are exclusive here as inside `__alloc_and_insert_iova_range` (it is called with
 * limit_pfn + 1); `dma32` is `dma_32bit_pfn`, the first page a 32-bit-limited device cannot
 * reach (a page inside the DVMA window, chosen by option).
 */

import type { PolicyMeter } from "../../../core/index.ts";
import { GapBTree } from "./gap-btree.ts";
import { RangePolicy } from "./range-policy.ts";
import { NIL, RangeTree } from "./range-tree.ts";

export interface IovaTreeOptions {
  /** iova.c dma_32bit_pfn as a window page; 0 = half the window. */
  dma32Pages: number;
  /** Align each allocation to its size rounded up to a power of two (`size_aligned`). */
  sizeAligned: boolean;
}

export const iovaOptionDefaults: IovaTreeOptions = { dma32Pages: 0, sizeAligned: true };

export const dma32Of = (windowPages: number, dma32Pages: number) =>
  dma32Pages === 0 ? windowPages >>> 1 : Math.min(dma32Pages, windowPages);

/** iova.c's top-down linear walk from the cached node. */
export class IovaRbTree extends RangePolicy {
  readonly dma32: number;
  /** iova.c `cached_node` and `cached32_node` (tree handles). */
  cached: number;
  cached32: number;
  /** iova.c `max32_alloc_size`: a 32-bit request this large or larger fails at once. */
  max32: number;
  /** Allocations that failed at once on the remembered size, and searches that retried. */
  private fastFails = 0;
  private retries = 0;

  constructor(windowPages: number, meter: PolicyMeter, o: IovaTreeOptions = iovaOptionDefaults) {
    super(new RangeTree(false), windowPages, meter, o.sizeAligned);
    this.dma32 = dma32Of(windowPages, o.dma32Pages);
    this.cached = this.cached32 = this.anchor;
    this.max32 = this.dma32;
  }

  protected place(size: number, mask: number, limit: number): number {
    const t = this.t;
    this.work.add(1);
    if (limit <= this.dma32 && size >= this.max32) {
      this.fastFails++;
      return -1;
    }
    let curr = limit <= this.dma32 ? this.cached32 : this.cached;
    const retryPfn = t.hi[curr];
    let high = limit;
    let low = 0;
    let newPfn: number;
    for (;;) {
      // Walk the tree backwards (toward lower addresses) until the candidate clears the node below.
      let visits = 0;
      do {
        visits++;
        high = Math.min(high, t.lo[curr]);
        newPfn = high >= size ? (high - size) & mask : -1;
        curr = t.prev(curr);
      } while (curr !== NIL && newPfn <= t.hi[curr] && newPfn >= low);
      this.work.add(visits);
      if (newPfn >= low) break;
      if (low === 0 && retryPfn < limit) {
        // Nothing below the cached node: search once more between it and the limit.
        this.retries++;
        high = limit;
        low = retryPfn + 1;
        curr = this.findLimit(limit);
        continue;
      }
      this.max32 = size;
      return -1;
    }
    const h = this.insertAllocation(newPfn, size);
    if (newPfn + size - 1 < this.dma32) this.cached32 = h;
    else this.cached = h;
    return newPfn;
  }

  /** iova.c `iova_find_limit`: the lowest node whose range lies at or above `limit`. */
  private findLimit(limit: number): number {
    if (limit > this.dma32) return this.anchor;
    const t = this.t as RangeTree;
    let node = t.root;
    let visits = 1;
    while (t.hi[node] < limit) {
      node = t.right[node];
      visits++;
    }
    for (;;) {
      while (t.left[node] !== NIL && t.lo[t.left[node]] >= limit) {
        node = t.left[node];
        visits++;
      }
      if (t.left[node] === NIL) break;
      let next = t.left[node];
      let again = false;
      while (t.right[next] !== NIL) {
        next = t.right[next];
        visits++;
        if (t.lo[next] >= limit) {
          node = next;
          again = true;
          break;
        }
      }
      if (!again) break;
    }
    this.work.add(visits);
    return node;
  }

  protected erasing(h: number): void {
    const t = this.t;
    const c32 = this.cached32;
    if (h === c32 || (t.hi[h] < this.dma32 && t.lo[h] >= t.lo[c32])) this.cached32 = t.next(h);
    if (t.lo[h] < this.dma32) this.max32 = this.dma32;
    if (t.lo[h] >= t.lo[this.cached]) this.cached = t.next(h);
  }

  protected reset(): void {
    this.cached = this.cached32 = this.anchor;
    this.max32 = this.dma32;
  }

  override stats() {
    return { ...super.stats(), fastFails: this.fastFails, retries: this.retries };
  }
}

/**
 * A gap-indexed search: the highest fitting gap below the limit, O(log n), over the augmented
 * red-black tree (iova-augmented) or the gap B-tree (iova-maple).
 */
export class GapSearch extends RangePolicy {
  constructor(
    index: "augmented" | "maple",
    windowPages: number,
    meter: PolicyMeter,
    o: IovaTreeOptions = iovaOptionDefaults,
  ) {
    super(
      index === "augmented" ? new RangeTree(true) : new GapBTree(),
      windowPages,
      meter,
      o.sizeAligned,
    );
  }

  protected place(size: number, mask: number, limit: number): number {
    const t = this.t;
    const h = t.highestFit(size, mask, limit);
    this.work.add(Math.max(1, t.visits));
    if (h === NIL) return -1;
    const start = t.foundAt;
    this.insertAllocation(start, size);
    return start;
  }

  protected erasing(_h: number): void {}
  protected reset(): void {}
}
