/**
 * Per-call work of an allocator: what it reports through the policy meter (lock taken, units
 * of work, lock released, in order) and, kept here for the policy's stats, the distribution of
 * nodes visited per alloc call. Not a plugin: the iova and iommu-common policies share it.
 */

import type { PolicyMeter } from "../../../core/index.ts";

export class CallWork {
  private readonly hist = new WorkCounts();
  private pending = 0;
  /** Units visited by the call in progress (all sections). */
  private call = 0;
  /** Units reported by every call so far. */
  total = 0;

  constructor(
    private readonly meter: PolicyMeter,
    /** The meter's work unit this allocator counts (e.g. "node", "word"). */
    readonly unit: number,
  ) {}

  /** The call takes `lock`. */
  acquire(lock: number): void {
    this.meter.acquire(lock);
  }

  /** `n` units of work under the lock held now. */
  add(n: number): void {
    this.pending += n;
  }

  /** Reports the section's work, then releases `lock`. */
  release(lock: number): void {
    if (this.pending > 0) {
      this.meter.work(this.unit, this.pending);
      this.call += this.pending;
      this.pending = 0;
    }
    this.meter.release(lock);
  }

  /** An alloc call ended: its work joins the distribution; true when no call did more. */
  endAlloc(): boolean {
    const worst = this.call > this.hist.max || this.hist.count === 0;
    this.hist.record(this.call);
    this.total += this.call;
    this.call = 0;
    return worst;
  }

  /** A call whose work is not an alloc's (free, addRange, ...). */
  endOther(): void {
    this.total += this.call;
    this.call = 0;
  }

  /** Per-alloc work figures for stats(): p50, p99 and max units, and the total of all calls. */
  figures(prefix: string): Record<string, number> {
    return {
      [`${prefix}P50`]: this.hist.percentile(50),
      [`${prefix}P99`]: this.hist.percentile(99),
      [`${prefix}Max`]: this.hist.max,
      [`${prefix}Total`]: this.total,
    };
  }
}

/** Exact counts of integer work per call: a slot per value up to 4095, a list above. */
export class WorkCounts {
  private readonly small = new Float64Array(4096);
  private readonly large: number[] = [];
  private sorted = true;
  count = 0;
  max = 0;

  record(v: number): void {
    this.count++;
    if (v > this.max) this.max = v;
    if (v < this.small.length) this.small[v]++;
    else {
      this.large.push(v);
      this.sorted = false;
    }
  }

  /** Nearest-rank percentile (p in 0..100); 0 when empty. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let v = 0; v < this.small.length; v++) {
      seen += this.small[v];
      if (seen >= rank) return v;
    }
    if (!this.sorted) {
      this.large.sort((a, b) => a - b);
      this.sorted = true;
    }
    return this.large[rank - seen - 1];
  }
}
