import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Counter, Histogram, TimeWeighted } from "../../../../core/model/sim/index.ts";

/** Nearest-rank percentile of sorted data: the smallest x with at least p% of values <= x. */
function exactPercentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

describe("Counter", () => {
  test("adds one by default or n", () => {
    const c = new Counter();
    expect(c.value).toBe(0);
    c.add();
    c.add(5);
    c.add(0.5);
    expect(c.value).toBe(6.5);
  });
});

describe("TimeWeighted", () => {
  test("time average of a piecewise-constant value", () => {
    const g = new TimeWeighted(100);
    g.set(100, 2); // 2 over [100, 150)
    g.add(150, 2); // 4 over [150, 200)
    g.set(200, 0); // 0 over [200, 300)
    expect(g.value).toBe(0);
    expect(g.mean(300)).toBeCloseTo((2 * 50 + 4 * 50) / 200, 12);
    expect(g.mean(200)).toBeCloseTo((2 * 50 + 4 * 50) / 100, 12);
  });

  test("mean at the start time is the current value; time must not go back", () => {
    const g = new TimeWeighted();
    expect(g.mean(0)).toBe(0);
    g.set(0, 3);
    expect(g.mean(0)).toBe(3);
    g.set(10, 1);
    expect(() => g.set(5, 1)).toThrow(RangeError);
    expect(() => g.mean(9)).toThrow(RangeError);
  });

  test("utilisation of a busy/idle server", () => {
    const g = new TimeWeighted();
    for (let t = 0; t < 1000; t += 10) {
      g.set(t, 1);
      g.set(t + 3, 0); // busy 3 of every 10 ns
    }
    expect(g.mean(1000)).toBeCloseTo(0.3, 12);
  });
});

describe("Histogram", () => {
  test("percentiles within 2% of exact sorted percentiles on random data", () => {
    const value = fc.oneof(
      fc.integer({ min: 0, max: 1000 }),
      fc.integer({ min: 0, max: 10_000_000_000 }),
      fc.double({ min: 0, max: 1e12, noNaN: true, noDefaultInfinity: true }),
      fc.double({ min: 1e-9, max: 1, noNaN: true }),
    );
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 500 }), (xs) => {
        const h = new Histogram();
        for (const x of xs) h.record(x);
        const sorted = [...xs].sort((a, b) => a - b);
        for (const p of [0, 1, 10, 25, 50, 75, 90, 99, 99.9, 100]) {
          const want = exactPercentile(sorted, p);
          const got = h.percentile(p);
          expect(Math.abs(got - want)).toBeLessThanOrEqual(want * 0.02 + 1e-300);
        }
        expect(h.count).toBe(xs.length);
        expect(h.min).toBe(sorted[0]);
        expect(h.max).toBe(sorted[sorted.length - 1]);
        const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
        expect(h.mean()).toBeCloseTo(mean, 6);
      }),
      { numRuns: 300 },
    );
  });

  test("relative error stays within 1/64 across the whole range", () => {
    for (let v = 1; v < 1e15; v *= 1.37) {
      const h = new Histogram();
      h.record(0);
      h.record(v);
      h.record(v * 1e6); // the clamp to [min, max] must not hide the bucket error
      const got = h.percentile(50);
      expect(Math.abs(got - v) / v).toBeLessThanOrEqual(1 / 64);
    }
  });

  test("exact for count 0 and 1", () => {
    const h = new Histogram();
    expect(h.count).toBe(0);
    expect(h.percentile(50)).toBe(0);
    expect(h.summary()).toEqual({ count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
    h.record(123_457);
    for (const p of [0, 50, 99.9, 100]) expect(h.percentile(p)).toBe(123_457);
    expect(h.summary()).toEqual({
      count: 1,
      mean: 123_457,
      p50: 123_457,
      p90: 123_457,
      p99: 123_457,
      p999: 123_457,
      max: 123_457,
    });
  });

  test("zeros and a skewed latency distribution", () => {
    const h = new Histogram();
    for (let i = 0; i < 900; i++) h.record(0);
    for (let i = 0; i < 99; i++) h.record(1000);
    h.record(1_000_000);
    expect(h.percentile(50)).toBe(0);
    expect(h.percentile(90)).toBe(0);
    expect(Math.abs(h.percentile(95) - 1000)).toBeLessThanOrEqual(1000 / 64);
    expect(h.percentile(99.95)).toBe(1_000_000);
    const s = h.summary();
    expect(s.count).toBe(1000);
    expect(s.max).toBe(1_000_000);
    expect(s.mean).toBeCloseTo((99 * 1000 + 1_000_000) / 1000, 9);
  });

  test("merge equals recording everything into one histogram", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1e9 }), { maxLength: 200 }),
        fc.array(fc.integer({ min: 0, max: 1e6 }), { maxLength: 200 }),
        (a, b) => {
          const ha = new Histogram();
          const hb = new Histogram();
          const all = new Histogram();
          for (const x of a) {
            ha.record(x);
            all.record(x);
          }
          for (const x of b) {
            hb.record(x);
            all.record(x);
          }
          ha.merge(hb);
          expect(ha.summary()).toEqual(all.summary());
          expect(ha.min).toBe(all.min);
          for (const p of [5, 33, 66, 95]) expect(ha.percentile(p)).toBe(all.percentile(p));
        },
      ),
      { numRuns: 200 },
    );
  });

  test("rejects negative, NaN and infinite values and bad percentiles", () => {
    const h = new Histogram();
    expect(() => h.record(-1)).toThrow(RangeError);
    expect(() => h.record(Number.NaN)).toThrow(RangeError);
    expect(() => h.record(Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => h.percentile(101)).toThrow(RangeError);
    expect(() => h.percentile(-1)).toThrow(RangeError);
    expect(h.count).toBe(0);
  });
});
