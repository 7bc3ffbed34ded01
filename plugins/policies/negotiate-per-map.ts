/**
 * negotiate-per-map: the method read literally. Every mapping asks the control domain for
 * DVMA and the grant is the mapping, so the policy says `acquire: "per-map"` and the guest
 * negotiates once per map instead of leasing chunks.
 *
 * What it holds is then exactly the grants of its live mappings, and its own allocator is
 * trivial: a free run of exactly the size asked for (the grant made for this mapping), else
 * the lowest run that fits, over a bitmap of the held pages.
 */

import { definePlugin, type LocalPolicy, type PolicyStats } from "../../core/index.ts";
import { PageBitmap } from "./page-bitmap.ts";

export default definePlugin({
  name: "negotiate-per-map",
  kind: "policy.local",
  version: "1.0.0",
  description:
    "Local DVMA policy: one negotiation per mapping (the grant is the mapping), exact fit",
  setup() {
    return ({ windowPages }) => new NegotiatePerMapPolicy(windowPages);
  },
});

export class NegotiatePerMapPolicy implements LocalPolicy {
  readonly acquire = "per-map" as const;
  private readonly bits: PageBitmap;
  /** Held ranges: base → npages (searches stay inside their span). */
  private readonly ranges = new Map<number, number>();
  private lo = 0;
  private hi = 0;
  private held = 0;
  private allocated = 0;
  private allocations = 0;
  private failures = 0;
  private exactFits = 0;

  constructor(private readonly windowPages: number) {
    this.bits = new PageBitmap(windowPages);
  }

  addRange(base: number, npages: number): void {
    this.bits.set(base, npages);
    this.ranges.set(base, npages);
    this.held += npages;
    this.bounds();
  }

  removeRange(base: number, npages: number): void {
    const end = base + npages;
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

  alloc(npages: number, align: number, _cpu: number): number {
    if (npages > this.held - this.allocated) {
      this.failures++;
      return -1;
    }
    let lowest = -1;
    let page = -1;
    for (let p = this.bits.nextSet(this.lo, this.hi); p >= 0; ) {
      const end = this.bits.nextClear(p, this.hi);
      if (end - p === npages && p % align === 0) {
        page = p;
        this.exactFits++;
        break;
      }
      if (lowest < 0) lowest = this.bits.findRun(p, end, end, npages, align);
      p = this.bits.nextSet(end, this.hi);
    }
    if (page < 0) page = lowest;
    if (page < 0) {
      this.failures++;
      return -1;
    }
    this.bits.clear(page, npages);
    this.allocated += npages;
    this.allocations++;
    return page;
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
      exactFits: this.exactFits,
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
