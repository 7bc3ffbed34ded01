/**
 * next-fit-pools: the guest allocator of Linux `iommu-common.c` as `pci_sun4v` sets it up.
 *
 * One bit per page of the window (set = held and free). The window is cut into `pools` equal
 * pools, each with its own next-fit hint; a CPU starts in the pool its hash picks
 * (`hash_32(cpu, log2 pools)`, as Linux, or `cpu & (pools - 1)`), searches first-fit from the
 * hint, rescans the pool from its start once, then moves to the next pool (resetting its hint),
 * at most `pools` pools in all. Allocations never cross a pool boundary, as in Linux. With
 * `largePool`, the top quarter of the window serves requests over 15 pages and only them.
 *
 * Pools are fixed over window indices while the held pages arrive as leases (addRange), so a
 * per-pool count of free pages lets a search skip pools that hold nothing it could use.
 */

import { definePlugin, type LocalPolicy, type PolicyStats, Type } from "../../core/index.ts";
import { PageBitmap } from "./page-bitmap.ts";

/** Linux `iommu_large_alloc`: requests over this many pages use the large pool. */
const LARGE_ALLOC = 15;
/** Linux GOLDEN_RATIO_32, the multiplier of `hash_32`. */
const GOLDEN_RATIO_32 = 0x61c88647;
const POOL_COUNTS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] as const;

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
  },
  { additionalProperties: false },
);

export default definePlugin({
  name: "next-fit-pools",
  kind: "policy.local",
  version: "1.0.0",
  description: "Local DVMA policy: Linux iommu-common pools, per-pool next-fit hint, hashed by CPU",
  options,
  setup(_ctx, opts) {
    return ({ windowPages, cpus }) =>
      new NextFitPoolsPolicy(windowPages, cpus, opts.pools, opts.largePool, opts.poolHash);
  },
});

export class NextFitPoolsPolicy implements LocalPolicy {
  private readonly bits: PageBitmap;
  /** Per pool (the large pool, if any, is the last): [start, end), next-fit hint, free pages. */
  private readonly start: Int32Array;
  private readonly end: Int32Array;
  private readonly hint: Int32Array;
  private readonly freeIn: Int32Array;
  private readonly poolSize: number;
  /** First page of the large pool (windowPages when there is none). */
  private readonly largeStart: number;
  /** Each CPU's first pool. */
  private readonly cpuPool: Int32Array;
  private held = 0;
  private allocated = 0;
  private allocations = 0;
  private failures = 0;
  private poolHops = 0;
  private rescans = 0;

  constructor(
    windowPages: number,
    cpus: number,
    private readonly pools: number,
    private readonly largePool = false,
    poolHash: "hash32" | "mask" = "hash32",
  ) {
    this.bits = new PageBitmap(windowPages);
    this.largeStart = largePool ? windowPages - (windowPages >>> 2) : windowPages;
    this.poolSize = Math.max(1, Math.floor(this.largeStart / pools));
    const n = pools + (largePool ? 1 : 0);
    this.start = new Int32Array(n);
    this.end = new Int32Array(n);
    for (let i = 0; i < pools; i++) {
      this.start[i] = Math.min(i * this.poolSize, this.largeStart);
      // The last pool takes the remainder (Linux leaves it unused).
      this.end[i] =
        i === pools - 1 ? this.largeStart : Math.min((i + 1) * this.poolSize, this.largeStart);
    }
    if (largePool) {
      this.start[pools] = this.largeStart;
      this.end[pools] = windowPages;
    }
    this.hint = this.start.slice();
    this.freeIn = new Int32Array(n);
    const bitsOf = Math.log2(pools);
    this.cpuPool = new Int32Array(Math.max(1, cpus));
    for (let c = 0; c < this.cpuPool.length; c++) {
      this.cpuPool[c] =
        poolHash === "mask" || pools === 1
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

  alloc(npages: number, align: number, cpu: number): number {
    if (npages > this.held - this.allocated) {
      this.failures++;
      return -1;
    }
    const large = this.largePool && npages > LARGE_ALLOC;
    let pool = large ? this.pools : this.cpuPool[cpu % this.cpuPool.length];
    const tries = large ? 1 : this.pools;
    for (let t = 0; t < tries; t++) {
      if (this.freeIn[pool] >= npages) {
        const page = this.searchPool(pool, npages, align);
        if (page >= 0) {
          this.bits.clear(page, npages);
          this.freeIn[pool] -= npages;
          this.hint[pool] = page + npages;
          this.allocated += npages;
          this.allocations++;
          if (t > 0) this.poolHops++;
          return page;
        }
      }
      if (t + 1 < tries) {
        // Linux moves to the next pool and searches it from its start.
        pool = (pool + 1) & (this.pools - 1);
        this.hint[pool] = this.start[pool];
      }
    }
    this.failures++;
    return -1;
  }

  free(page: number, npages: number, _cpu: number): void {
    this.bits.set(page, npages);
    if (npages === 1) this.freeIn[this.poolOf(page)]++;
    else this.countFree(page, npages, 1);
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
      largestFreeRun: largest,
      fragmentation: free === 0 ? 0 : 1 - largest / free,
    };
  }

  /** First fit from the pool's hint to its end, then once from its start up to the hint. */
  private searchPool(pool: number, npages: number, align: number): number {
    const s = this.start[pool];
    const e = this.end[pool];
    let from = this.hint[pool];
    if (from >= e || from < s) from = s;
    const page = this.bits.findRun(from, e, e, npages, align);
    if (page >= 0 || from === s) return page;
    this.rescans++;
    return this.bits.findRun(s, from, e, npages, align);
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
