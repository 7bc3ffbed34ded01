/**
 * first-fit: the control domain grants the lowest free range of the window that fits.
 *
 * A free list of ranges sorted by base. A grant takes the first range with room for the
 * request once its start is rounded up to the alignment (splitting off what is left on either
 * side); a revoke puts the range back and merges it with free neighbours. Simple and
 * predictable: a baseline for fragmentation studies.
 */

import {
  definePlugin,
  type GlobalPolicy,
  type PolicyStats,
  type Refusal,
  Type,
} from "../../core/index.ts";

const options = Type.Object(
  {
    maxPagesPerGuest: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: "pages one guest may hold at once (no limit when absent)",
      }),
    ),
  },
  { additionalProperties: false },
);

export default definePlugin({
  name: "first-fit",
  kind: "policy.global",
  version: "1.0.0",
  description: "Global DVMA policy: lowest free range that fits, coalescing free list",
  options,
  setup(_ctx, opts) {
    return ({ windowPages }) => new FirstFitPolicy(windowPages, opts.maxPagesPerGuest);
  },
});

export class FirstFitPolicy implements GlobalPolicy {
  /** Free ranges, sorted by base, never adjacent (always coalesced). */
  private readonly starts: number[] = [];
  private readonly lengths: number[] = [];
  private readonly held = new Map<number, number>();
  private free: number;
  private allocations = 0;
  private failures = 0;

  constructor(
    private readonly windowPages: number,
    private readonly maxPagesPerGuest?: number,
  ) {
    this.free = windowPages;
    this.starts.push(0);
    this.lengths.push(windowPages);
  }

  grant(domain: number, npages: number, align: number): number | Refusal {
    const holds = this.held.get(domain) ?? 0;
    if (this.maxPagesPerGuest !== undefined && holds + npages > this.maxPagesPerGuest) {
      this.failures++;
      return {
        refused: `domain ${domain} would hold ${holds + npages} pages, over maxPagesPerGuest ${this.maxPagesPerGuest}`,
      };
    }
    for (let i = 0; i < this.starts.length; i++) {
      const s = this.starts[i];
      const base = Math.ceil(s / align) * align;
      if (base + npages <= s + this.lengths[i]) {
        this.take(i, base, npages);
        this.held.set(domain, holds + npages);
        this.allocations++;
        return base;
      }
    }
    this.failures++;
    return {
      refused: `no free range of ${npages} pages aligned to ${align} (largest free run ${this.largestRun()} pages)`,
    };
  }

  revoke(domain: number, base: number, npages: number): void {
    const i = this.firstAfter(base); // ranges[i - 1] starts at or before base
    const end = base + npages;
    const prevEnd = i > 0 ? this.starts[i - 1] + this.lengths[i - 1] : 0;
    if ((i > 0 && prevEnd > base) || (i < this.starts.length && this.starts[i] < end)) {
      throw new Error(`revoke of [${base}, ${end}): part of it is already free`);
    }
    const joinPrev = i > 0 && prevEnd === base;
    const joinNext = i < this.starts.length && this.starts[i] === end;
    if (joinPrev && joinNext) {
      this.lengths[i - 1] += npages + this.lengths[i];
      this.starts.splice(i, 1);
      this.lengths.splice(i, 1);
    } else if (joinPrev) {
      this.lengths[i - 1] += npages;
    } else if (joinNext) {
      this.starts[i] = base;
      this.lengths[i] += npages;
    } else {
      this.starts.splice(i, 0, base);
      this.lengths.splice(i, 0, npages);
    }
    this.free += npages;
    const left = (this.held.get(domain) ?? 0) - npages;
    if (left > 0) this.held.set(domain, left);
    else this.held.delete(domain);
  }

  reclaim(domain: number): void {
    // Every range of the domain was revoked one by one already; only the tally remains.
    this.held.delete(domain);
  }

  restore(domain: number, base: number, npages: number): void {
    const i = this.firstAfter(base) - 1;
    if (i < 0 || this.starts[i] + this.lengths[i] < base + npages) {
      throw new Error(`restore of [${base}, ${base + npages}): not free`);
    }
    this.take(i, base, npages);
    this.held.set(domain, (this.held.get(domain) ?? 0) + npages);
  }

  stats(): PolicyStats {
    const largest = this.largestRun();
    return {
      allocatedPages: this.windowPages - this.free,
      freePages: this.free,
      allocations: this.allocations,
      failures: this.failures,
      fragmentation: this.free === 0 ? 0 : 1 - largest / this.free,
      freeRanges: this.starts.length,
      largestFreeRun: largest,
    };
  }

  /** Takes [base, base + n) out of free range i, which contains it. */
  private take(i: number, base: number, n: number): void {
    const s = this.starts[i];
    const end = s + this.lengths[i];
    const before = base - s;
    const after = end - (base + n);
    if (before > 0 && after > 0) {
      this.lengths[i] = before;
      this.starts.splice(i + 1, 0, base + n);
      this.lengths.splice(i + 1, 0, after);
    } else if (before > 0) {
      this.lengths[i] = before;
    } else if (after > 0) {
      this.starts[i] = base + n;
      this.lengths[i] = after;
    } else {
      this.starts.splice(i, 1);
      this.lengths.splice(i, 1);
    }
    this.free -= n;
  }

  /** Index of the first free range starting after `page` (binary search). */
  private firstAfter(page: number): number {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid] <= page) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private largestRun(): number {
    let m = 0;
    for (const l of this.lengths) if (l > m) m = l;
    return m;
  }
}
