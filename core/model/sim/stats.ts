/** Measurement helpers: counters, time-weighted gauges, and a log-bucketed histogram. */

export class Counter {
  private n = 0;

  add(n = 1): void {
    this.n += n;
  }

  get value(): number {
    return this.n;
  }
}

/** A piecewise-constant gauge (queue length, busy servers) averaged over simulated time. */
export class TimeWeighted {
  private readonly start: number;
  private last: number;
  private current = 0;
  private area = 0; // integral of value over [start, last]

  constructor(startNs = 0) {
    this.start = startNs;
    this.last = startNs;
  }

  get value(): number {
    return this.current;
  }

  set(nowNs: number, value: number): void {
    this.advance(nowNs);
    this.current = value;
  }

  add(nowNs: number, delta: number): void {
    this.advance(nowNs);
    this.current += delta;
  }

  /** Time average over [start, nowNs]; the current value if no time has passed. */
  mean(nowNs: number): number {
    if (nowNs < this.last) {
      throw new RangeError(`TimeWeighted.mean(${nowNs}) is before ${this.last}`);
    }
    const span = nowNs - this.start;
    if (span === 0) return this.current;
    return (this.area + this.current * (nowNs - this.last)) / span;
  }

  private advance(nowNs: number): void {
    if (nowNs < this.last) {
      throw new RangeError(`TimeWeighted time went back: ${nowNs} < ${this.last}`);
    }
    this.area += this.current * (nowNs - this.last);
    this.last = nowNs;
  }
}

// HDR-style layout: each power-of-two range [2^e, 2^(e+1)) splits into 64 linear sub-buckets,
// so a bucket spans at most 1/64 (1.6%) of its values; the midpoint is within 0.8%.
const SUB_BITS = 6;
const SUBS = 1 << SUB_BITS;
const scratch = new Float64Array(1);
const scratchBits = new Uint32Array(scratch.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // high word index

export class Histogram {
  // rows[e - base] holds the 64 sub-bucket counts of exponent e, allocated on first use, so
  // memory follows the range actually seen. 0 and subnormals share the zero bucket.
  private rows: (Float64Array | undefined)[] = [];
  private base = 0;
  private zeros = 0;
  private n = 0;
  private sum = 0;
  private lo = Number.POSITIVE_INFINITY;
  private hi = Number.NEGATIVE_INFINITY;

  get count(): number {
    return this.n;
  }

  /** Smallest recorded value; 0 when empty. */
  get min(): number {
    return this.n === 0 ? 0 : this.lo;
  }

  /** Largest recorded value; 0 when empty. */
  get max(): number {
    return this.n === 0 ? 0 : this.hi;
  }

  record(v: number): void {
    if (!(v >= 0 && v < Number.POSITIVE_INFINITY)) {
      throw new RangeError(`Histogram.record needs a finite non-negative value, got ${v}`);
    }
    this.n++;
    this.sum += v;
    if (v < this.lo) this.lo = v;
    if (v > this.hi) this.hi = v;
    // Exponent and top mantissa bits straight from the IEEE-754 bits: exact, no log2 rounding.
    scratch[0] = v;
    const bits = scratchBits[HI];
    const biased = (bits >>> 20) & 0x7ff;
    if (biased === 0) {
      this.zeros++;
      return;
    }
    this.row(biased - 1023)[(bits >>> (20 - SUB_BITS)) & (SUBS - 1)]++;
  }

  /** The counts of exponent `e`, creating the row (and extending the range) if needed. */
  private row(e: number): Float64Array {
    const rows = this.rows;
    if (rows.length === 0) this.base = e;
    else if (e < this.base) {
      rows.unshift(...new Array<undefined>(this.base - e));
      this.base = e;
    }
    const i = e - this.base;
    let counts = rows[i];
    if (counts === undefined) {
      while (rows.length < i) rows.push(undefined);
      counts = new Float64Array(SUBS);
      rows[i] = counts;
    }
    return counts;
  }

  mean(): number {
    return this.n === 0 ? 0 : this.sum / this.n;
  }

  /** Nearest-rank percentile (p in 0..100): the bucket midpoint, clamped to [min, max]. */
  percentile(p: number): number {
    if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    if (rank === 1) return this.lo; // the extremes are known exactly
    if (rank >= this.n) return this.hi;
    let seen = this.zeros;
    if (seen >= rank) return this.lo;
    for (let row = 0; row < this.rows.length; row++) {
      const counts = this.rows[row];
      if (counts === undefined) continue;
      for (let s = 0; s < SUBS; s++) {
        seen += counts[s];
        if (seen >= rank) {
          const mid = 2 ** (row + this.base) * (1 + (s + 0.5) / SUBS);
          return Math.min(this.hi, Math.max(this.lo, mid));
        }
      }
    }
    return this.hi;
  }

  summary(): {
    count: number;
    mean: number;
    p50: number;
    p90: number;
    p99: number;
    p999: number;
    max: number;
  } {
    return {
      count: this.n,
      mean: this.mean(),
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.max,
    };
  }

  /** Adds `other`'s observations into this histogram. */
  merge(other: Histogram): void {
    if (other.n === 0) return;
    this.n += other.n;
    this.sum += other.sum;
    this.zeros += other.zeros;
    if (other.lo < this.lo) this.lo = other.lo;
    if (other.hi > this.hi) this.hi = other.hi;
    for (let row = 0; row < other.rows.length; row++) {
      const src = other.rows[row];
      if (src === undefined) continue;
      const dst = this.row(row + other.base);
      for (let s = 0; s < SUBS; s++) dst[s] += src[s];
    }
  }
}
