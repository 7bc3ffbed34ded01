/**
 * magazine: per-CPU caches of freed DVMA blocks in front of an iova.c range tree, as Linux's
 * IOVA rcache (Bonwick and Adams' magazines, without dynamic resizing).
 *
 * Requests of up to 32 pages round up to a size class (1, 2, 4, 8, 16, 32 pages); larger ones
 * go straight to the tree. Each CPU has a `loaded` and a `prev` magazine per class. A free
 * pushes the block onto `loaded` (swapping in `prev` when full, else parking the full magazine
 * in the class's depot, else emptying it into the tree); an unaligned alloc pops from `loaded`,
 * then `prev`, then a depot magazine, and only then asks the tree. When the tree fails, every
 * cache is flushed back and the tree is asked once more. Aligned requests skip the caches.
 *
 * Cached blocks are free pages the guest still holds, so `removeRange` flushes those inside the
 * range first; a live rounded-up block whose unused tail lies inside is trimmed to its pages.
 * A free must name a whole allocation.
 */

import { definePlugin, type LocalPolicy, type PolicyStats, Type } from "../../core/index.ts";
import { RbTreePolicy } from "./rbtree.ts";

/** Size classes 1..32 pages (IOVA_RANGE_CACHE_MAX_SIZE = 6). */
const CLASSES = 6;
const MAX_CACHED = 1 << (CLASSES - 1);

const options = Type.Object(
  {
    magazineSize: Type.Integer({
      minimum: 1,
      maximum: 4096,
      default: 127,
      description: "blocks per magazine (Linux IOVA_MAG_SIZE: 127)",
    }),
    depotMags: Type.Integer({
      minimum: 0,
      maximum: 4096,
      default: 32,
      description: "full magazines the depot keeps per size class (Linux MAX_GLOBAL_MAGS: 32)",
    }),
    backingMode: Type.Union([Type.Literal("top-down"), Type.Literal("best-fit")], {
      default: "top-down",
      description: "search mode of the range tree behind the caches",
    }),
  },
  { additionalProperties: false },
);

export default definePlugin({
  name: "magazine",
  kind: "policy.local",
  version: "1.0.0",
  description:
    "Local DVMA policy: per-CPU magazines of 1-32 page blocks and a depot over an iova range tree",
  options,
  setup(_ctx, opts) {
    return ({ windowPages, cpus }) =>
      new MagazinePolicy(
        new RbTreePolicy(windowPages, opts.backingMode),
        windowPages,
        Math.max(1, cpus),
        opts.magazineSize,
        opts.depotMags,
      );
  },
});

/** Size class of a request of 1..32 pages: order_base_2(npages). */
const classOf = (npages: number) => (npages === 1 ? 0 : 32 - Math.clz32(npages - 1));

export class MagazinePolicy implements LocalPolicy {
  /** Magazine m holds its blocks' first pages in entries[m * size, m * size + count[m]). */
  private readonly entries: Int32Array;
  private readonly count: Int32Array;
  /** Per (cpu, class): magazine ids. */
  private readonly loaded: Int32Array;
  private readonly prev: Int32Array;
  /** Per class: a stack of full magazine ids. */
  private readonly depot: Int32Array;
  private readonly depotCount = new Int32Array(CLASSES);
  /** Stack of empty magazine ids. */
  private readonly empties: Int32Array;
  private emptiesTop = 0;
  /** Pages requested for a live block that was rounded up, by its first page (0 = none). */
  private readonly roundedFrom: Uint8Array;
  private roundedLive = 0;
  private held = 0;
  private allocated = 0;
  private cachedPages = 0;
  private wastePages = 0;
  private allocations = 0;
  private failures = 0;
  private hits = 0;
  private misses = 0;
  private flushes = 0;

  constructor(
    /** Where blocks come from and go back to; it must take frees of pieces of an allocation. */
    private readonly backing: LocalPolicy,
    windowPages: number,
    private readonly cpus: number,
    private readonly size: number,
    private readonly depotMags: number,
  ) {
    const perCpu = cpus * CLASSES;
    const total = 2 * perCpu + CLASSES * depotMags;
    this.entries = new Int32Array(total * size);
    this.count = new Int32Array(total);
    this.loaded = new Int32Array(perCpu);
    this.prev = new Int32Array(perCpu);
    for (let i = 0; i < perCpu; i++) {
      this.loaded[i] = 2 * i;
      this.prev[i] = 2 * i + 1;
    }
    this.depot = new Int32Array(CLASSES * depotMags);
    this.empties = new Int32Array(CLASSES * depotMags);
    for (let m = 2 * perCpu; m < total; m++) this.empties[this.emptiesTop++] = m;
    this.roundedFrom = new Uint8Array(windowPages);
  }

  addRange(base: number, npages: number): void {
    this.backing.addRange(base, npages);
    this.held += npages;
  }

  removeRange(base: number, npages: number): void {
    const end = base + npages;
    if (this.cachedPages > 0) this.flushWhere((p, size) => p < end && p + size > base);
    if (this.roundedLive > 0) this.trimTails(base, end);
    this.backing.removeRange(base, npages);
    this.held -= npages;
  }

  alloc(npages: number, align: number, cpu: number): number {
    if (npages > MAX_CACHED) return this.fromBacking(npages, npages, align, cpu);
    const c = classOf(npages);
    if (align === 1) {
      const slot = (cpu < this.cpus ? cpu : cpu % this.cpus) * CLASSES + c;
      let m = this.loaded[slot];
      let n = this.count[m];
      if (n === 0) m = this.refill(slot, c);
      if (m >= 0) {
        n = this.count[m] - 1;
        this.count[m] = n;
        const page = this.entries[m * this.size + n];
        this.cachedPages -= 1 << c;
        this.hits++;
        return this.handOut(page, npages, 1 << c);
      }
    }
    return this.fromBacking(npages, 1 << c, align, cpu);
  }

  free(page: number, npages: number, cpu: number): void {
    this.allocated -= npages;
    if (npages > MAX_CACHED) {
      this.backing.free(page, npages, cpu);
      return;
    }
    const c = classOf(npages);
    if (npages < 1 << c) {
      if (this.roundedFrom[page] === 0) {
        // Its unused tail was trimmed by removeRange: the tree holds exactly npages.
        this.backing.free(page, npages, cpu);
        return;
      }
      this.roundedFrom[page] = 0;
      this.roundedLive--;
      this.wastePages -= (1 << c) - npages;
    }
    const slot = (cpu < this.cpus ? cpu : cpu % this.cpus) * CLASSES + c;
    let m = this.loaded[slot];
    if (this.count[m] === this.size) m = this.makeRoom(slot, c, cpu);
    this.entries[m * this.size + this.count[m]++] = page;
    this.cachedPages += 1 << c;
  }

  stats(): PolicyStats {
    let depot = 0;
    for (let c = 0; c < CLASSES; c++) depot += this.depotCount[c];
    const tree = this.backing.stats();
    return {
      allocatedPages: this.allocated,
      freePages: this.held - this.allocated,
      allocations: this.allocations,
      failures: this.failures,
      heldPages: this.held,
      cachedPages: this.cachedPages,
      internalFragmentation: this.wastePages,
      cacheHits: this.hits,
      cacheMisses: this.misses,
      flushes: this.flushes,
      depotMagazines: depot,
      treeAllocatedPages: tree.allocatedPages,
    };
  }

  private handOut(page: number, npages: number, blockPages: number): number {
    if (npages < blockPages) {
      this.roundedFrom[page] = npages;
      this.roundedLive++;
      this.wastePages += blockPages - npages;
    }
    this.allocated += npages;
    this.allocations++;
    return page;
  }

  /** A block of `blockPages` from the tree; on failure flush every cache and ask once more. */
  private fromBacking(npages: number, blockPages: number, align: number, cpu: number): number {
    this.misses++;
    let page = this.backing.alloc(blockPages, align, cpu);
    if (page < 0 && this.cachedPages > 0) {
      this.flushes++;
      this.flushWhere(() => true);
      page = this.backing.alloc(blockPages, align, cpu);
    }
    if (page < 0) {
      this.failures++;
      return -1;
    }
    return this.handOut(page, npages, blockPages);
  }

  /** `loaded` is empty: swap in `prev` or a depot magazine. The new loaded id, or -1. */
  private refill(slot: number, c: number): number {
    const empty = this.loaded[slot];
    const prev = this.prev[slot];
    if (this.count[prev] > 0) {
      this.loaded[slot] = prev;
      this.prev[slot] = empty;
      return prev;
    }
    if (this.depotCount[c] === 0) return -1;
    const full = this.depot[c * this.depotMags + --this.depotCount[c]];
    this.empties[this.emptiesTop++] = empty;
    this.loaded[slot] = full;
    return full;
  }

  /** `loaded` is full: swap with `prev`, or park it in the depot, or empty it into the tree. */
  private makeRoom(slot: number, c: number, cpu: number): number {
    const full = this.loaded[slot];
    const prev = this.prev[slot];
    if (this.count[prev] < this.size) {
      this.loaded[slot] = prev;
      this.prev[slot] = full;
      return prev;
    }
    if (this.depotCount[c] < this.depotMags) {
      this.depot[c * this.depotMags + this.depotCount[c]++] = full;
      const fresh = this.empties[--this.emptiesTop];
      this.loaded[slot] = fresh;
      return fresh;
    }
    const blockPages = 1 << c;
    for (let i = 0; i < this.size; i++)
      this.backing.free(this.entries[full * this.size + i], blockPages, cpu);
    this.cachedPages -= this.size * blockPages;
    this.count[full] = 0;
    return full;
  }

  /** Returns every cached block for which `hit(page, blockPages)` holds to the tree. */
  private flushWhere(hit: (page: number, blockPages: number) => boolean): void {
    const drain = (m: number, c: number) => {
      const blockPages = 1 << c;
      const base = m * this.size;
      let kept = 0;
      for (let i = 0; i < this.count[m]; i++) {
        const page = this.entries[base + i];
        if (hit(page, blockPages)) {
          this.backing.free(page, blockPages, 0);
          this.cachedPages -= blockPages;
        } else this.entries[base + kept++] = page;
      }
      this.count[m] = kept;
    };
    for (let slot = 0; slot < this.loaded.length; slot++) {
      drain(this.loaded[slot], slot % CLASSES);
      drain(this.prev[slot], slot % CLASSES);
    }
    for (let c = 0; c < CLASSES; c++) {
      let kept = 0;
      for (let i = 0; i < this.depotCount[c]; i++) {
        const m = this.depot[c * this.depotMags + i];
        drain(m, c);
        if (this.count[m] > 0) this.depot[c * this.depotMags + kept++] = m;
        else this.empties[this.emptiesTop++] = m;
      }
      this.depotCount[c] = kept;
    }
  }

  /** Gives the tree back the unused tails of live rounded blocks that reach into [base, end). */
  private trimTails(base: number, end: number): void {
    for (let p = Math.max(0, base - MAX_CACHED + 1); p < end; p++) {
      const npages = this.roundedFrom[p];
      if (npages === 0) continue;
      const blockPages = 1 << classOf(npages);
      if (p + blockPages <= base) continue;
      this.backing.free(p + npages, blockPages - npages, 0);
      this.roundedFrom[p] = 0;
      this.roundedLive--;
      this.wastePages -= blockPages - npages;
    }
  }
}
