import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fnv1a32, Rng, RngStreams } from "../../../../core/model/sim/index.ts";

const draw = (r: Rng, n: number): number[] => Array.from({ length: n }, () => r.nextU32());

/** Pearson chi-square statistic of `counts` against a uniform expectation. */
function chiSquare(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const e = total / counts.length;
  return counts.reduce((acc, c) => acc + ((c - e) * (c - e)) / e, 0);
}

describe("Rng core", () => {
  test("xoshiro128** matches the reference implementation (v1.1) from state {1,2,3,4}", () => {
    const r = new Rng(0);
    Object.assign(r, { s0: 1, s1: 2, s2: 3, s3: 4 });
    expect(draw(r, 10)).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597,
      4258142804,
    ]);
  });

  test("FNV-1a 32 known answers", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
  });

  test("golden values: seeding must not change silently (it would shift every scenario)", () => {
    expect(draw(new Rng(42), 4)).toEqual([1486326352, 2967658674, 2704719404, 3431710409]);
    const s = new RngStreams(7).stream("nic0");
    expect([s.nextU32(), s.nextU32(), s.int(0, 1000)]).toEqual([2716338240, 1094277515, 602]);
  });

  test("same seed reproduces; different seeds differ; big and negative seeds work", () => {
    expect(draw(new Rng(123), 50)).toEqual(draw(new Rng(123), 50));
    expect(draw(new Rng(123), 8)).not.toEqual(draw(new Rng(124), 8));
    // The high half of a 53-bit seed matters.
    expect(draw(new Rng(2 ** 40 + 5), 8)).not.toEqual(draw(new Rng(5), 8));
    expect(draw(new Rng(-1), 8)).not.toEqual(draw(new Rng(1), 8));
    expect(() => new Rng(0.5)).toThrow(RangeError);
    expect(() => new Rng(Number.NaN)).toThrow(RangeError);
  });

  test("float is in [0, 1) with a sane mean", () => {
    const r = new Rng(9);
    let sum = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = r.float();
      expect(x >= 0 && x < 1).toBe(true);
      sum += x;
    }
    expect(Math.abs(sum / 100_000 - 0.5)).toBeLessThan(0.01);
  });
});

describe("Rng.int", () => {
  test("always in [lo, hi) and an integer", () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
        fc.oneof(
          fc.integer({ min: 1, max: 1000 }),
          fc.integer({ min: 1, max: 2 ** 32 }),
          fc.integer({ min: 1, max: 2 ** 52 }),
        ),
        (seed, lo, span) => {
          const r = new Rng(seed);
          for (let i = 0; i < 20; i++) {
            const x = r.int(lo, lo + span);
            expect(Number.isSafeInteger(x)).toBe(true);
            expect(x).toBeGreaterThanOrEqual(lo);
            expect(x).toBeLessThan(lo + span);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test("roughly uniform (chi-square, generous bound)", () => {
    const r = new Rng(2024);
    for (const k of [2, 7, 10, 1000]) {
      const counts = new Array<number>(k).fill(0);
      const n = k * 500;
      for (let i = 0; i < n; i++) counts[r.int(0, k)]++;
      // df = k - 1; mean df, sd sqrt(2 df): allow 6 sd above the mean.
      const df = k - 1;
      expect(chiSquare(counts)).toBeLessThan(df + 6 * Math.sqrt(2 * df) + 10);
    }
  });

  test("a non-power-of-two span near 2^32 is unbiased (rejection, not plain modulo)", () => {
    // span = 3 * 2^30: plain `u32 % span` would make the lowest 2^30 values twice as likely.
    const r = new Rng(5);
    const span = 3 * 2 ** 30;
    let low = 0;
    const n = 60_000;
    for (let i = 0; i < n; i++) if (r.int(0, span) < 2 ** 30) low++;
    expect(Math.abs(low / n - 1 / 3)).toBeLessThan(0.015); // modulo bias would give 0.5
  });

  test("span exactly 2^32 covers the full u32 range", () => {
    const r = new Rng(77);
    let max = 0;
    let min = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 20_000; i++) {
      const x = r.int(0, 2 ** 32);
      max = Math.max(max, x);
      min = Math.min(min, x);
    }
    expect(max).toBeGreaterThan(2 ** 32 * 0.999);
    expect(min).toBeLessThan(2 ** 32 * 0.001);
  });

  test("rejects bad ranges", () => {
    const r = new Rng(1);
    expect(() => r.int(5, 5)).toThrow(RangeError);
    expect(() => r.int(5, 4)).toThrow(RangeError);
    expect(() => r.int(0, 1.5)).toThrow(RangeError);
    expect(() => r.int(0, Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(r.int(3, 4)).toBe(3);
  });
});

describe("Rng distributions", () => {
  const N = 200_000;
  const stats = (f: () => number): { mean: number; sd: number } => {
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < N; i++) {
      const x = f();
      s += x;
      s2 += x * x;
    }
    const mean = s / N;
    return { mean, sd: Math.sqrt(s2 / N - mean * mean) };
  };

  test("uniform, exponential, normal, lognormal have the right moments", () => {
    const r = new Rng(31);
    const u = stats(() => r.uniform(10, 20));
    expect(u.mean).toBeCloseTo(15, 1);
    expect(u.sd).toBeCloseTo(10 / Math.sqrt(12), 1);
    const e = stats(() => r.exponential(250));
    expect(Math.abs(e.mean / 250 - 1)).toBeLessThan(0.02);
    expect(Math.abs(e.sd / 250 - 1)).toBeLessThan(0.03);
    const g = stats(() => r.normal(5, 2));
    expect(g.mean).toBeCloseTo(5, 1);
    expect(g.sd).toBeCloseTo(2, 1);
    const ln = stats(() => r.lognormal(0, 0.5));
    expect(Math.abs(ln.mean / Math.exp(0.125) - 1)).toBeLessThan(0.02);
    for (let i = 0; i < 1000; i++) expect(r.exponential(1)).toBeGreaterThanOrEqual(0);
  });

  test("chance and pick", () => {
    const r = new Rng(8);
    let hits = 0;
    for (let i = 0; i < N; i++) if (r.chance(0.3)) hits++;
    expect(Math.abs(hits / N - 0.3)).toBeLessThan(0.01);
    expect(r.chance(0)).toBe(false);
    expect(r.chance(1)).toBe(true);
    const xs = ["a", "b", "c"] as const;
    const seen = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const x = r.pick(xs);
      seen.set(x, (seen.get(x) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual(["a", "b", "c"]);
    for (const c of seen.values()) expect(c).toBeGreaterThan(850);
    expect(() => r.pick([])).toThrow(RangeError);
  });
});

describe("RngStreams", () => {
  test("a stream depends only on (seed, name), never on creation order", () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.uniqueArray(fc.string({ maxLength: 12 }), { minLength: 2, maxLength: 8 }),
        (seed, names) => {
          const forward = new RngStreams(seed);
          const backward = new RngStreams(seed);
          const a = names.map((n) => [n, draw(forward.stream(n), 4)] as const);
          const b = [...names].reverse().map((n) => [n, draw(backward.stream(n), 4)] as const);
          expect(new Map(a)).toEqual(new Map(b));
        },
      ),
      { numRuns: 100 },
    );
  });

  test("drawing from one stream does not shift another", () => {
    const s1 = new RngStreams(99);
    const s2 = new RngStreams(99);
    const r = s1.stream("policy");
    for (let i = 0; i < 1000; i++) r.nextU32(); // a plugin that draws a lot
    s2.stream("brand-new-plugin").nextU32();
    expect(draw(s1.stream("nic"), 10)).toEqual(draw(s2.stream("nic"), 10));
  });

  test("same name returns the same stateful stream; distinct names and seeds differ", () => {
    const s = new RngStreams(1);
    expect(s.stream("x")).toBe(s.stream("x"));
    expect(draw(new RngStreams(1).stream("x"), 8)).not.toEqual(
      draw(new RngStreams(1).stream("y"), 8),
    );
    expect(draw(new RngStreams(1).stream("x"), 8)).not.toEqual(
      draw(new RngStreams(2).stream("x"), 8),
    );
    // Nearby names and seeds are not correlated in their first outputs.
    const firsts = new Set<number>();
    for (let i = 0; i < 1000; i++) firsts.add(new RngStreams(i % 10).stream(`dev${i}`).nextU32());
    expect(firsts.size).toBe(1000);
  });
});
