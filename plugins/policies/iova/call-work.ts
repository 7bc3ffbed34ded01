/**
 * Per-call work of an allocator: what it reports through the policy meter (lock taken, units
 * of work, lock released, in order) and, kept here for the policy's stats, the distribution of
 * nodes visited per alloc call. Not a plugin: the iova and iommu-common policies share it.
 */

import { Histogram, type PolicyMeter } from "../../../core/index.ts";

export class CallWork {
  private readonly hist = new Histogram();
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

  /** An alloc call ended: its work joins the distribution. */
  endAlloc(): void {
    this.hist.record(this.call);
    this.total += this.call;
    this.call = 0;
  }

  /** A call whose work is not an alloc's (free, addRange, ...). */
  endOther(): void {
    this.total += this.call;
    this.call = 0;
  }

  /** Per-alloc work figures for stats(): p50, p99 and max units, and the total of all calls. */
  figures(prefix: string): Record<string, number> {
    return {
      [`${prefix}P50`]: Math.round(this.hist.percentile(50)),
      [`${prefix}P99`]: Math.round(this.hist.percentile(99)),
      [`${prefix}Max`]: this.hist.max,
      [`${prefix}Total`]: this.total,
    };
  }
}
