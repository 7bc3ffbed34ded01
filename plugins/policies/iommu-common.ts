/**
 * iommu-common: the guest allocator of Linux `arch/sparc/kernel/iommu-common.c`
 * (`iommu_tbl_pool_init`, `iommu_tbl_range_alloc`, `iommu_tbl_range_free`) as `pci_sun4v`
 * sets it up: 16 pools, no large pool, no lazy flush.
 *
 * One bit per page of the window (set = held and free). The window is cut into `pools` equal
 * pools, each with its own spin lock and next-fit hint; a CPU starts in the pool
 * `hash_32(cpu, log2 pools)` picks. Pass 0 searches first-fit from the hint to the pool's end;
 * its failure resets the hint to the pool's start, sets NEED_FLUSH and searches the whole
 * pool; each later failure moves to the next pool (resetting its hint), up to `pools` moves.
 * With `largePool`, the top quarter of the window serves requests over 15 pages
 * (`iommu_large_alloc`) and only them, with no moves. A request limited below a page its pool
 * reaches (a 32-bit DMA mask) searches its pool below the limit when the hint is under it,
 * and otherwise — and on every later pass — pool 0 from page 0 up to the limit. With
 * `lazyFlush` (sun4u), an allocation that wrapped below the hint or followed a NEED_FLUSH
 * counts one IOTLB flush. Allocations never cross a pool boundary, as in Linux.
 *
 * Work: one "word" unit per 64-bit bitmap word a search scans (sparc64 `unsigned long`), as
 * `iommu_area_alloc` would, under the pool's lock. A per-pool count of free pages lets the host
 * skip pools that cannot fit; their scans are still charged.
 */

import {
  definePlugin,
  type LocalPolicy,
  type PolicyMeter,
  type PolicyStats,
  Type,
} from "../../core/index.ts";
import { CallWork } from "./iova/call-work.ts";
import { PageBitmap } from "./page-bitmap.ts";

/** Linux `iommu_large_alloc`: requests over this many pages use the large pool. */
const LARGE_ALLOC = 15;
/** Linux GOLDEN_RATIO_32, the multiplier of `hash_32`. */
const GOLDEN_RATIO_32 = 0x61c88647;
const POOL_COUNTS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] as const;
/** Bits per bitmap word on sparc64. */
const WORD = 64;

const options = Type.Object(
  {
    pools: Type.Union(
      POOL_COUNTS.map((n) => Type.Literal(n)),
      { default: 16, description: "pools the window is cut into (IOMMU_NR_POOLS = 16)" },
    ),
    largePool: Type.Boolean({
      default: false,
      description: "keep the top quarter of the window for requests over 15 pages (pci_sun4v: off)",
    }),
    poolHash: Type.Union([Type.Literal("hash32"), Type.Literal("mask")], {
      default: "hash32",
      description: "how a CPU picks its pool: Linux hash_32(cpu) or cpu & (pools - 1)",
    }),
    lazyFlush: Type.Boolean({
      default: false,
      description:
        "count a flush when an allocation wraps or follows NEED_FLUSH (sun4u; pci_sun4v: off)",
    }),
  },
  { additionalProperties: false },
);

export type IommuCommonOptions = {
  pools: number;
  largePool: boolean;
  poolHash: "hash32" | "mask";
  lazyFlush: boolean;
};

export const IOMMU_COMMON_DEFAULTS: IommuCommonOptions = {
  pools: 16,
  largePool: false,
  poolHash: "hash32",
  lazyFlush: false,
};

export default definePlugin({
  name: "iommu-common",
  kind: "policy.local",
  version: "1.0.0",
  description:
    "Local DVMA policy: Linux iommu-common pools, per-pool lock and next-fit hint, hashed by CPU",
  options,
  setup(_ctx, opts) {
    return ({ windowPages, cpus, meter }) => new IommuCommonPolicy(windowPages, cpus, meter, opts);
  },
});

const words = (from: number, to: number) => (to > from ? Math.ceil((to - from) / WORD) : 1);

export class IommuCommonPolicy implements LocalPolicy {
  private readonly bits: PageBitmap;
  /** Per pool (the large pool, if any, is the last): [start, end), next-fit hint, free pages. */
  private readonly start: Int32Array;
  private readonly end: Int32Array;
  private readonly hint: Int32Array;
  private readonly freeIn: Int32Array;
  private readonly locks: number[] = [];
  private readonly work: CallWork;
  private readonly pools: number;
  private readonly poolSize: number;
  /** First page of the large pool (windowPages when there is none). */
  private readonly largeStart: number;
  /** Each CPU's first pool. */
  private readonly cpuPool: Int32Array;
  private needFlush = false;
  private held = 0;
  private allocated = 0;
  private allocations = 0;
  private failures = 0;
  private poolHops = 0;
  private rescans = 0;
  private flushes = 0;

  constructor(
    readonly windowPages: number,
    cpus: number,
    meter: PolicyMeter,
    private readonly o: IommuCommonOptions = IOMMU_COMMON_DEFAULTS,
  ) {
    const pools = o.pools;
    this.pools = pools;
    this.bits = new PageBitmap(windowPages);
    this.largeStart = o.largePool ? windowPages - (windowPages >>> 2) : windowPages;
    this.poolSize = Math.max(1, Math.floor(this.largeStart / pools));
    const n = pools + (o.largePool ? 1 : 0);
    this.start = new Int32Array(n);
    this.end = new Int32Array(n);
    for (let i = 0; i < pools; i++) {
      this.start[i] = Math.min(i * this.poolSize, this.largeStart);
      // The last pool takes the remainder (Linux leaves it unused).
      this.end[i] =
        i === pools - 1 ? this.largeStart : Math.min((i + 1) * this.poolSize, this.largeStart);
    }
    if (o.largePool) {
      this.start[pools] = this.largeStart;
      this.end[pools] = windowPages;
    }
    for (let i = 0; i < n; i++) this.locks.push(meter.lock(`pool[${i}].lock`, "spin"));
    this.work = new CallWork(meter, meter.unit("word"));
    this.hint = this.start.slice();
    this.freeIn = new Int32Array(n);
    const bitsOf = Math.log2(pools);
    this.cpuPool = new Int32Array(Math.max(1, cpus));
    for (let c = 0; c < this.cpuPool.length; c++) {
      this.cpuPool[c] =
        o.poolHash === "mask" || pools === 1
          ? c & (pools - 1)
          : (Math.imul(c, GOLDEN_RATIO_32) >>> (32 - bitsOf)) & (pools - 1);
    }
  }

  addRange(base: number, npages: number): void {
    this.bits.set(base, npages);
    this.countFree(base, npages, 1);
    this.held += npages;
  }

  removeRange(base: number, npages: number): void {
    this.bits.clear(base, npages);
    this.countFree(base, npages, -1);
    this.held -= npages;
  }

  alloc(npages: number, align: number, cpu: number, limit = this.windowPages): number {
    const large = this.o.largePool && npages > LARGE_ALLOC;
    let pool = large ? this.pools : this.cpuPool[cpu % this.cpuPool.length];
    let page = -1;
    this.work.acquire(this.locks[pool]);
    for (let pass = 0; ; pass++) {
      let e = this.end[pool];
      let from = this.hint[pool];
      if (from >= e || from < this.start[pool]) from = this.start[pool];
      if (limit < e) {
        // The device mask cuts this pool: try below the limit, else pool 0 from its start.
        e = limit;
        if (from >= limit || pass > 0) {
          this.work.release(this.locks[pool]);
          pool = 0;
          this.work.acquire(this.locks[pool]);
          from = 0;
        }
      }
      page = this.search(pool, from, e, npages, align);
      if (page >= 0) {
        if (pass > 1) this.poolHops++;
        break;
      }
      if (pass === 0) {
        this.rescans++;
        this.hint[pool] = this.start[pool];
        this.needFlush = true;
      } else if (!large && pass <= this.pools) {
        this.work.release(this.locks[pool]);
        pool = (pool + 1) & (this.pools - 1);
        this.work.acquire(this.locks[pool]);
        this.hint[pool] = this.start[pool];
        this.needFlush = true;
      } else break;
    }
    if (page >= 0) {
      if (this.o.lazyFlush && (page < this.hint[pool] || this.needFlush)) {
        this.needFlush = false;
        this.flushes++;
      }
      this.hint[pool] = page + npages;
      this.bits.clear(page, npages);
      this.countFree(page, npages, -1);
    }
    this.work.release(this.locks[pool]);
    this.work.endAlloc();
    if (page < 0) {
      this.failures++;
      return -1;
    }
    this.allocated += npages;
    this.allocations++;
    return page;
  }

  free(page: number, npages: number, _cpu: number): void {
    const pool = this.poolOf(page);
    this.work.acquire(this.locks[pool]);
    this.work.add(words(page, page + npages));
    this.bits.set(page, npages);
    if (npages === 1) this.freeIn[pool]++;
    else this.countFree(page, npages, 1);
    this.work.release(this.locks[pool]);
    this.work.endOther();
    this.allocated -= npages;
  }

  stats(): PolicyStats {
    const free = this.held - this.allocated;
    let largest = 0;
    for (let i = 0; i < this.start.length; i++) {
      if (this.freeIn[i] > largest)
        largest = Math.max(largest, this.bits.longestRun(this.start[i], this.end[i]));
    }
    return {
      allocatedPages: this.allocated,
      freePages: free,
      allocations: this.allocations,
      failures: this.failures,
      heldPages: this.held,
      pools: this.pools,
      poolHops: this.poolHops,
      rescans: this.rescans,
      flushes: this.flushes,
      largestFreeRun: largest,
      fragmentation: free === 0 ? 0 : 1 - largest / free,
      ...this.work.figures("words"),
    };
  }

  /** iommu_area_alloc: first fit in [from, e); charges the words scanned. */
  private search(pool: number, from: number, e: number, n: number, align: number): number {
    // A pool (or the stretch below a limit) with too few free pages is skipped on the host;
    // Linux scans it all the same.
    const page =
      pool === 0 && e !== this.end[0]
        ? this.bits.findRun(from, e, e, n, align)
        : this.freeIn[pool] >= n
          ? this.bits.findRun(from, e, e, n, align)
          : -1;
    this.work.add(words(from, page >= 0 ? page + n : e));
    return page;
  }

  private poolOf(page: number): number {
    if (page >= this.largeStart) return this.pools;
    const i = (page / this.poolSize) | 0;
    return i < this.pools ? i : this.pools - 1;
  }

  /** Adds `sign * pages` to each pool's free count for [base, base + npages). */
  private countFree(base: number, npages: number, sign: number): void {
    const end = base + npages;
    for (let p = base; p < end; ) {
      const i = this.poolOf(p);
      const segEnd = Math.min(end, this.end[i]);
      this.freeIn[i] += sign * (segEnd - p);
      p = segEnd;
    }
  }
}
