/**
 * iova-rcache: Linux `drivers/iommu/iova.c` `alloc_iova_fast` / `free_iova_fast` — per-CPU
 * magazines over a depot (`__iova_rcache_get`, `__iova_rcache_insert`, `iova_magazine_pop`,
 * `iova_magazine_push`, `free_cpu_cached_iovas`, `free_global_cached_iovas`) in front of an
 * iova tree chosen by option (iova-rbtree, iova-augmented or iova-maple).
 *
 * A request under 32 pages rounds up to a power of two; sizes 1..32 pages (six classes,
 * IOVA_RANGE_CACHE_MAX_SIZE = 6) are cached, larger ones always use the tree. Each CPU has a
 * `loaded` and a `prev` magazine of 127 entries per class under its own spin lock; an alloc pops
 * the highest-indexed entry that fits the limit from `loaded`, swapping in `prev` when `loaded`
 * is empty, else taking a full magazine from the depot under the depot lock; a miss goes to the
 * tree (size-aligned), and a tree failure flushes every cache into the tree and retries once.
 * A free pushes onto `loaded`, swapping with `prev` when full, else moving `loaded` to the
 * depot. `depot: "linux-6.7"` keeps an unbounded depot list (the 100 ms trimming work item is
 * not modelled: policies have no clock); `"max-32"` is the older array of 32 magazines whose
 * overflow is emptied into the tree. Requests aligned beyond their size class skip the caches.
 */

import {
  definePlugin,
  type LocalPolicy,
  type PolicyMeter,
  type PolicyStats,
  Type,
} from "../../core/index.ts";
import { WorkCounts } from "./iova/call-work.ts";
import { GapSearch, IovaRbTree, type IovaTreeOptions } from "./iova/iova-tree.ts";
import { treeOptionFields } from "./iova/options.ts";
import type { RangePolicy } from "./iova/range-policy.ts";

/** IOVA_RANGE_CACHE_MAX_SIZE: classes of 1, 2, 4, 8, 16 and 32 pages. */
const CLASSES = 6;
/** Old depot bound (MAX_GLOBAL_MAGS). */
const MAX_GLOBAL_MAGS = 32;

const options = Type.Object(
  {
    tree: Type.Union(
      [Type.Literal("iova-rbtree"), Type.Literal("iova-augmented"), Type.Literal("iova-maple")],
      { default: "iova-rbtree", description: "the tree behind the caches" },
    ),
    magazineSize: Type.Integer({
      minimum: 1,
      maximum: 4096,
      default: 127,
      description: "pfns per magazine (IOVA_MAG_SIZE: 127 today, 128 originally)",
    }),
    depot: Type.Union([Type.Literal("linux-6.7"), Type.Literal("max-32")], {
      default: "linux-6.7",
      description: "unbounded depot list (Linux 6.7+) or at most 32 magazines per class (older)",
    }),
    ...treeOptionFields,
  },
  { additionalProperties: false },
);

export default definePlugin({
  name: "iova-rcache",
  kind: "policy.local",
  version: "1.0.0",
  description: "Local DVMA policy: iova.c per-CPU magazines and depot over an iova tree",
  options,
  setup(_ctx, o) {
    return ({ windowPages, cpus, meter }) => new IovaRcache(windowPages, cpus, meter, o);
  },
});

interface Magazine {
  size: number;
  pfns: Int32Array;
}

export interface RcacheOptions extends IovaTreeOptions {
  tree: "iova-rbtree" | "iova-augmented" | "iova-maple";
  magazineSize: number;
  depot: "linux-6.7" | "max-32";
}

/** alloc_iova_fast: a request under 32 pages rounds up to a power of two. */
function roundSize(npages: number): number {
  return npages < 1 << (CLASSES - 1) ? 1 << (32 - Math.clz32(npages - 1)) : npages;
}

/** order_base_2(n) of a cached size, or -1 when not cached. */
function classOf(size: number): number {
  const order = 32 - Math.clz32(size - 1);
  return order < CLASSES ? order : -1;
}

export class IovaRcache implements LocalPolicy {
  private readonly tree: RangePolicy;
  private readonly loaded: Magazine[][] = [];
  private readonly prev: Magazine[][] = [];
  private readonly depot: Magazine[][] = [];
  private readonly cpuLock: number[] = [];
  private readonly depotLock: number[] = [];
  private readonly slot: number;
  /** Live allocations the tree holds rounded up: page -> pages asked for (the rest is an unused tail). */
  private readonly rounded = new Map<number, number>();
  private readonly nodesPerAlloc = new WorkCounts();
  private allocated = 0;
  private allocations = 0;
  private failures = 0;
  private hits = 0;
  private flushes = 0;
  private cachedPages = 0;

  constructor(
    readonly windowPages: number,
    cpus: number,
    private readonly meter: PolicyMeter,
    private readonly o: RcacheOptions,
  ) {
    this.tree =
      o.tree === "iova-rbtree"
        ? new IovaRbTree(windowPages, meter, o)
        : new GapSearch(o.tree === "iova-augmented" ? "augmented" : "maple", windowPages, meter, o);
    this.slot = meter.unit("magazine");
    const n = Math.max(1, cpus);
    for (let c = 0; c < n; c++) {
      this.cpuLock.push(meter.lock(`cpu_rcache[${c}].lock`, "spin"));
      this.loaded.push([]);
      this.prev.push([]);
      for (let k = 0; k < CLASSES; k++) {
        this.loaded[c].push(this.newMag());
        this.prev[c].push(this.newMag());
      }
    }
    for (let k = 0; k < CLASSES; k++) {
      this.depotLock.push(meter.lock(`rcache[${k}].lock`, "spin"));
      this.depot.push([]);
    }
  }

  addRange(base: number, npages: number): void {
    this.tree.addRange(base, npages);
  }

  removeRange(base: number, npages: number): void {
    const end = base + npages;
    // Cached blocks and the unused tails of rounded live blocks inside the range go back first.
    this.flushAll((pfn, size) => pfn < end && pfn + size > base);
    for (const [page, used] of this.rounded) {
      const size = roundSize(used);
      if (page + size > base && page + used < end) {
        this.tree.free(page + used, size - used, 0);
        this.rounded.delete(page);
      }
    }
    this.tree.removeRange(base, npages);
  }

  alloc(npages: number, align: number, cpu: number, limit = this.windowPages): number {
    const size = roundSize(npages);
    const k = align <= size ? classOf(size) : -1;
    const before = this.tree.nodeWork();
    let pfn = k >= 0 ? this.cacheGet(k, cpu % this.loaded.length, size, limit) : -1;
    if (pfn >= 0) this.hits++;
    else {
      pfn = this.tree.alloc(size, align, cpu, limit);
      if (pfn < 0) {
        this.flushes++;
        this.flushAll(() => true);
        pfn = this.tree.alloc(size, align, cpu, limit);
      }
    }
    this.nodesPerAlloc.record(this.tree.nodeWork() - before);
    if (pfn < 0) {
      this.failures++;
      return -1;
    }
    if (size !== npages) this.rounded.set(pfn, npages);
    this.allocated += npages;
    this.allocations++;
    return pfn;
  }

  free(page: number, npages: number, cpu: number): void {
    this.allocated -= npages;
    // A block whose tail went back at removeRange is no longer a whole size class: tree only.
    const size = this.rounded.delete(page) ? roundSize(npages) : npages;
    const k = (size & (size - 1)) === 0 ? classOf(size) : -1;
    if (k < 0 || !this.cacheInsert(k, cpu % this.loaded.length, page))
      this.tree.free(page, size, cpu);
  }

  stats(): PolicyStats {
    const t = this.tree.stats();
    return {
      allocatedPages: this.allocated,
      freePages: t.heldPages - this.allocated,
      allocations: this.allocations,
      failures: this.failures,
      heldPages: t.heldPages,
      cacheHits: this.hits,
      cachedPages: this.cachedPages,
      depotMagazines: this.depot.reduce((a, d) => a + d.length, 0),
      flushes: this.flushes,
      treeNodes: t.treeNodes,
      fragmentation: t.fragmentation,
      nodesP50: this.nodesPerAlloc.percentile(50),
      nodesP99: this.nodesPerAlloc.percentile(99),
      nodesMax: this.nodesPerAlloc.max,
      nodesTotal: t.nodesTotal,
      ...Object.fromEntries(Object.entries(t).filter(([k]) => k.startsWith("worst"))),
    };
  }

  /** __iova_rcache_get. */
  private cacheGet(k: number, cpu: number, size: number, limit: number): number {
    const lock = this.cpuLock[cpu];
    this.meter.acquire(lock);
    let mag = this.loaded[cpu][k];
    let has = mag.size > 0;
    if (!has && this.prev[cpu][k].size > 0) {
      this.loaded[cpu][k] = this.prev[cpu][k];
      this.prev[cpu][k] = mag;
      mag = this.loaded[cpu][k];
      has = true;
    } else if (!has) {
      this.meter.acquire(this.depotLock[k]);
      const full = this.depot[k].pop();
      if (full !== undefined) {
        this.loaded[cpu][k] = mag = full;
        has = true;
      }
      this.meter.work(this.slot, 1);
      this.meter.release(this.depotLock[k]);
    }
    let pfn = -1;
    if (has) {
      // iova_magazine_pop: the highest-indexed pfn under the limit, swapped with the last.
      let i = mag.size - 1;
      while (i >= 0 && mag.pfns[i] + size > limit) i--;
      this.meter.work(this.slot, mag.size - Math.max(i, 0));
      if (i >= 0) {
        pfn = mag.pfns[i];
        mag.pfns[i] = mag.pfns[--mag.size];
        this.cachedPages -= size;
      }
    } else this.meter.work(this.slot, 1);
    this.meter.release(lock);
    return pfn;
  }

  /** __iova_rcache_insert; false when the pfn must go back to the tree. */
  private cacheInsert(k: number, cpu: number, pfn: number): boolean {
    const lock = this.cpuLock[cpu];
    const cap = this.o.magazineSize;
    this.meter.acquire(lock);
    let spill: Magazine | undefined;
    if (this.loaded[cpu][k].size >= cap) {
      if (this.prev[cpu][k].size < cap) {
        const l = this.loaded[cpu][k];
        this.loaded[cpu][k] = this.prev[cpu][k];
        this.prev[cpu][k] = l;
      } else {
        this.meter.acquire(this.depotLock[k]);
        if (this.o.depot === "linux-6.7" || this.depot[k].length < MAX_GLOBAL_MAGS)
          this.depot[k].push(this.loaded[cpu][k]);
        else spill = this.loaded[cpu][k];
        this.meter.work(this.slot, 1);
        this.meter.release(this.depotLock[k]);
        this.loaded[cpu][k] = this.newMag();
      }
    }
    const mag = this.loaded[cpu][k];
    mag.pfns[mag.size++] = pfn;
    this.cachedPages += 1 << k;
    this.meter.work(this.slot, 1);
    this.meter.release(lock);
    // iova_magazine_free_pfns: the old depot's overflow goes back to the tree, pfn by pfn.
    if (spill !== undefined) this.emptyMag(spill, k, () => true);
    return true;
  }

  /** free_cpu_cached_iovas on every CPU and free_global_cached_iovas, for pfns `which` picks. */
  private flushAll(which: (pfn: number, size: number) => boolean): void {
    for (let k = 0; k < CLASSES; k++) {
      for (let c = 0; c < this.loaded.length; c++) {
        this.meter.acquire(this.cpuLock[c]);
        this.emptyMag(this.loaded[c][k], k, which);
        this.emptyMag(this.prev[c][k], k, which);
        this.meter.release(this.cpuLock[c]);
      }
      this.meter.acquire(this.depotLock[k]);
      for (const m of this.depot[k]) this.emptyMag(m, k, which);
      this.depot[k] = this.depot[k].filter((m) => m.size > 0);
      this.meter.release(this.depotLock[k]);
    }
  }

  private emptyMag(mag: Magazine, k: number, which: (pfn: number, size: number) => boolean): void {
    const size = 1 << k;
    let keep = 0;
    for (let i = 0; i < mag.size; i++) {
      const pfn = mag.pfns[i];
      if (which(pfn, size)) {
        this.tree.free(pfn, size, 0);
        this.cachedPages -= size;
      } else mag.pfns[keep++] = pfn;
    }
    mag.size = keep;
  }

  private newMag(): Magazine {
    return { size: 0, pfns: new Int32Array(this.o.magazineSize) };
  }
}
