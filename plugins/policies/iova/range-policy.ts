/**
 * What the iova policies share: a guest allocator over an ordered index of inclusive ranges
 * [lo, hi] — the allocations, one "reserved" range per stretch of the window the guest does not
 * hold (iova.c `reserve_iova`), and the anchor node at the window's end (iova.c `IOVA_ANCHOR`).
 * Free space is the gaps between them. Subclasses say how a request finds its gap (`place`)
 * and what follows an insert or an erase (iova.c's cached nodes); the index is a red-black tree
 * (range-tree.ts) or a gap B-tree (gap-btree.ts). Not a plugin.
 *
 * One global spin lock (iova.c `iova_rbtree_lock`) guards every call; each node visited is one
 * unit of "node" work on the policy meter.
 */

import type { LocalPolicy, PolicyMeter, PolicyStats } from "../../../core/index.ts";
import { CallWork } from "./call-work.ts";

export const ALLOCATED = 0;
export const RESERVED = 1;
export const ANCHOR = 2;

/** The index both trees provide; ranges are named by handle, 0 is none. */
export interface RangeIndex {
  readonly lo: Int32Array;
  readonly hi: Int32Array;
  readonly tag: Uint8Array;
  /** Nodes looked at by the last find, insert or highestFit. */
  visits: number;
  size: number;
  find(page: number): number;
  /** The lowest range. */
  first(): number;
  prev(h: number): number;
  next(h: number): number;
  insert(lo: number, hi: number, tag: number): number;
  erase(h: number): void;
  reshape(h: number, lo: number, hi: number): void;
  /** Highest aligned start below `limit` in one gap; the handle above that gap, start in `foundAt`. */
  highestFit(size: number, mask: number, limit: number): number;
  foundAt: number;
}

/** iova.c `align_mask`: with size alignment, aligned to the power of two at or above `size`. */
export function alignMask(size: number, align: number, sizeAligned: boolean): number {
  let mask = ~(align - 1);
  if (sizeAligned) mask &= ~((1 << (32 - Math.clz32(size - 1))) - 1);
  return mask;
}

export abstract class RangePolicy implements LocalPolicy {
  protected readonly work: CallWork;
  protected readonly lock: number;
  protected readonly anchor: number;
  protected held = 0;
  protected allocated = 0;
  private allocations = 0;
  private failures = 0;
  protected live = 0;
  /** The index's shape just after the alloc that did the most work (the worst moment). */
  private worst: Record<string, number> = {};

  constructor(
    protected readonly t: RangeIndex,
    readonly windowPages: number,
    meter: PolicyMeter,
    protected readonly sizeAligned: boolean,
  ) {
    this.lock = meter.lock("iova_rbtree_lock", "spin");
    this.work = new CallWork(meter, meter.unit("node"));
    t.insert(0, windowPages - 1, RESERVED);
    this.anchor = t.insert(windowPages, windowPages, ANCHOR);
  }

  /** Places [start, start + size) and returns its start, or -1; work goes to `this.work`. */
  protected abstract place(size: number, mask: number, limit: number): number;
  /** Called before `h` is erased (iova.c `__cached_rbnode_delete_update`). */
  protected abstract erasing(h: number): void;
  /** Forget every cached position (the held ranges changed). */
  protected abstract reset(): void;

  addRange(base: number, npages: number): void {
    const t = this.t;
    const end = base + npages - 1;
    const h = t.find(base);
    if (h === 0 || t.tag[h] !== RESERVED || t.hi[h] < end)
      throw new Error(`addRange [${base}, ${end + 1}): part of it is already held`);
    const lo = t.lo[h];
    const hi = t.hi[h];
    this.reset();
    t.erase(h);
    if (lo < base) t.insert(lo, base - 1, RESERVED);
    if (hi > end) t.insert(end + 1, hi, RESERVED);
    this.held += npages;
  }

  removeRange(base: number, npages: number): void {
    const t = this.t;
    let lo = base;
    let hi = base + npages - 1;
    const below = base > 0 ? t.find(base - 1) : 0;
    const above = t.find(hi + 1);
    this.reset();
    if (below !== 0 && t.tag[below] === RESERVED) {
      lo = t.lo[below];
      t.erase(below);
    }
    if (above !== 0 && t.tag[above] === RESERVED) {
      hi = t.hi[above];
      t.erase(above);
    }
    t.insert(lo, hi, RESERVED);
    this.held -= npages;
  }

  alloc(npages: number, align: number, _cpu: number, limit = this.windowPages): number {
    this.work.acquire(this.lock);
    const got = this.place(npages, alignMask(npages, align, this.sizeAligned), limit);
    this.work.release(this.lock);
    if (this.work.endAlloc()) this.worst = this.shape("worst", got < 0 ? 0 : npages);
    if (got < 0) {
      this.failures++;
      return -1;
    }
    this.live++;
    this.allocated += npages;
    this.allocations++;
    return got;
  }

  free(page: number, npages: number, _cpu: number): void {
    const t = this.t;
    this.work.acquire(this.lock);
    let h = t.find(page);
    this.work.add(t.visits);
    if (h !== 0 && t.lo[h] === page && t.hi[h] === page + npages - 1 && t.tag[h] === ALLOCATED) {
      this.erasing(h);
      t.erase(h);
      this.live--;
    } else {
      // A piece of one or more allocations: trim or split them (no cached node follows).
      const end = page + npages - 1;
      for (let p = page; p <= end; ) {
        h = t.find(p);
        if (h === 0 || t.tag[h] !== ALLOCATED)
          throw new Error(`free [${page}, ${end + 1}): page ${p} is not allocated`);
        const lo = t.lo[h];
        const hi = t.hi[h];
        const cut = Math.min(end, hi);
        this.erasing(h);
        t.erase(h);
        this.live--;
        if (lo < p) {
          t.insert(lo, p - 1, ALLOCATED);
          this.live++;
        }
        if (cut < hi) {
          t.insert(cut + 1, hi, ALLOCATED);
          this.live++;
        }
        p = cut + 1;
      }
    }
    this.work.release(this.lock);
    this.work.endOther();
    this.allocated -= npages;
  }

  stats(): PolicyStats {
    const free = this.held - this.allocated;
    const shape = this.shape("", 0);
    return {
      allocatedPages: this.allocated,
      freePages: free,
      allocations: this.allocations,
      failures: this.failures,
      heldPages: this.held,
      ...shape,
      fragmentation: free === 0 ? 0 : 1 - shape.largestFreeRun / free,
      ...this.work.figures("nodes"),
      ...this.worst,
    };
  }

  /**
   * Live ranges, tree nodes, free gaps and the largest one (a walk over the index), named with
   * `prefix` (camel-cased); `pending` pages just allocated are not yet in `live`.
   */
  private shape(prefix: string, pending: number): Record<string, number> {
    let largest = 0;
    let gaps = 0;
    const t = this.t;
    for (let h = t.first(); h !== 0; h = t.next(h)) {
      const p = t.prev(h);
      const g = t.lo[h] - (p === 0 ? 0 : t.hi[p] + 1);
      if (g > 0) {
        gaps++;
        if (g > largest) largest = g;
      }
    }
    const name = (n: string) => (prefix === "" ? n : prefix + n[0]!.toUpperCase() + n.slice(1));
    return {
      [name("allocationRanges")]: this.live + (pending > 0 ? 1 : 0),
      [name("treeNodes")]: t.size,
      [name("freeGaps")]: gaps,
      [name("largestFreeRun")]: largest,
      ...(prefix === "" ? {} : { [name("atAlloc")]: this.allocations + 1 }),
    };
  }

  /** Nodes visited by every call so far. */
  nodeWork(): number {
    return this.work.total;
  }

  /** Inserts an allocation at [start, start + size) and counts the descent. */
  protected insertAllocation(start: number, size: number): number {
    const h = this.t.insert(start, start + size - 1, ALLOCATED);
    this.work.add(this.t.visits);
    return h;
  }
}
