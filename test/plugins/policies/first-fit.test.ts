import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type GlobalPolicy, InputError, isRefusal, type PluginError } from "../../../core/index.ts";
import { MeterLog } from "../../../core/model/domains/policy-meter.ts";
import firstFit, { FirstFitPolicy } from "../../../plugins/policies/first-fit.ts";
import { policyHost } from "./policy-model.ts";

const W = 256;

/** Lowest aligned base with `n` free pages in the model, or -1. */
function lowestFit(model: Int32Array, n: number, align: number): number {
  for (let b = 0; b + n <= model.length; b += align) {
    let ok = true;
    for (let p = b; p < b + n && ok; p++) ok = model[p] === -1;
    if (ok) return b;
  }
  return -1;
}

function freeRuns(model: Int32Array): number[] {
  const runs: number[] = [];
  let run = 0;
  for (let p = 0; p <= model.length; p++) {
    if (p < model.length && model[p] === -1) run++;
    else if (run > 0) {
      runs.push(run);
      run = 0;
    }
  }
  return runs;
}

const cmd = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("grant" as const),
      domain: fc.integer({ min: 1, max: 4 }),
      npages: fc.integer({ min: 1, max: 48 }),
      align: fc.constantFrom(1, 1, 2, 4, 8, 32),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("revoke" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("restore" as const),
      domain: fc.integer({ min: 1, max: 4 }),
      base: fc.integer({ min: 0, max: W - 1 }),
      npages: fc.integer({ min: 1, max: 24 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("die" as const),
      domain: fc.integer({ min: 1, max: 4 }),
    }),
  },
);

describe("first-fit", () => {
  test("property: grants are the lowest aligned fit, never overlap, stay in the window; accounting is exact", () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 1, max: 128 }), { nil: undefined }),
        fc.array(cmd, { maxLength: 100, size: "max" }),
        (quota, cmds) => {
          const policy: GlobalPolicy = policyHost().use(firstFit, { maxPagesPerGuest: quota })({
            windowPages: W,
            meter: new MeterLog(),
            guests: [1, 2, 3, 4],
          });
          const model = new Int32Array(W).fill(-1);
          let grants: { domain: number; base: number; npages: number }[] = [];
          let allocations = 0;
          let failures = 0;
          const holds = (d: number) => model.filter((o) => o === d).length;
          for (const c of cmds) {
            if (c.op === "grant") {
              const r = policy.grant(c.domain, c.npages, c.align);
              const expected = lowestFit(model, c.npages, c.align);
              if (quota !== undefined && holds(c.domain) + c.npages > quota) {
                expect(isRefusal(r)).toBe(true);
                expect((r as { refused: string }).refused).toContain("maxPagesPerGuest");
                failures++;
              } else if (expected < 0) {
                expect(isRefusal(r)).toBe(true);
                expect((r as { refused: string }).refused).toContain("no free range");
                failures++;
              } else {
                expect(r).toBe(expected);
                expect(expected % c.align).toBe(0);
                model.fill(c.domain, expected, expected + c.npages);
                grants.push({ domain: c.domain, base: expected, npages: c.npages });
                allocations++;
              }
            } else if (c.op === "revoke") {
              if (grants.length === 0) continue;
              const [g] = grants.splice(c.pick % grants.length, 1);
              policy.revoke(g.domain, g.base, g.npages);
              model.fill(-1, g.base, g.base + g.npages);
            } else if (c.op === "restore") {
              const end = Math.min(W, c.base + c.npages);
              if (!model.subarray(c.base, end).every((o) => o === -1)) continue;
              policy.restore(c.domain, c.base, end - c.base);
              model.fill(c.domain, c.base, end);
              grants.push({ domain: c.domain, base: c.base, npages: end - c.base });
            } else {
              for (const g of grants.filter((x) => x.domain === c.domain)) {
                policy.revoke(g.domain, g.base, g.npages);
                model.fill(-1, g.base, g.base + g.npages);
              }
              grants = grants.filter((x) => x.domain !== c.domain);
              policy.reclaim(c.domain);
            }
            const free = model.filter((o) => o === -1).length;
            const runs = freeRuns(model);
            const largest = Math.max(0, ...runs);
            expect(policy.stats!()).toEqual({
              allocatedPages: W - free,
              freePages: free,
              allocations,
              failures,
              fragmentation: free === 0 ? 0 : 1 - largest / free,
              freeRanges: runs.length,
              largestFreeRun: largest,
            });
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test("coalesces on revoke and splits around an aligned grant", () => {
    const p = new FirstFitPolicy(64);
    expect(p.grant(1, 3, 1)).toBe(0);
    expect(p.grant(1, 4, 8)).toBe(8); // leaves [3, 8) free before it
    expect(p.stats()).toMatchObject({ freeRanges: 2, largestFreeRun: 52, freePages: 57 });
    expect(p.grant(2, 5, 1)).toBe(3);
    p.revoke(1, 0, 3);
    p.revoke(2, 3, 5);
    p.revoke(1, 8, 4);
    expect(p.stats()).toMatchObject({
      freeRanges: 1,
      largestFreeRun: 64,
      fragmentation: 0,
      allocatedPages: 0,
    });
    expect(() => p.revoke(1, 0, 1)).toThrow("already free");
  });

  test("restore takes a range out of the free list; reclaim is a no-op", () => {
    const p = new FirstFitPolicy(32);
    p.restore(3, 4, 4);
    expect(p.grant(1, 8, 1)).toBe(8);
    expect(p.grant(1, 4, 1)).toBe(0);
    p.reclaim(3);
    expect(p.stats()).toMatchObject({ freePages: 16, allocatedPages: 16 });
    expect(() => p.restore(1, 0, 2)).toThrow("not free");
  });

  test("options are validated", () => {
    expect(() => policyHost().use(firstFit, { maxPagesPerGuest: 0 })).toThrow(InputError);
    expect(() => policyHost().use(firstFit, { maxPages: 3 })).toThrow(
      '/maxPages: Unknown property (did you mean "maxPagesPerGuest"?)',
    );
  });

  test("runs behind the checked wrapper without a single violation", () => {
    const errors: PluginError[] = [];
    const policy = policyHost({ onPolicyError: (e) => errors.push(e) }).use(firstFit)({
      windowPages: 1024,
      guests: [1, 2],
      meter: new MeterLog(),
    });
    const live: [number, number, number][] = [];
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 3000; i++) {
      if (live.length > 0 && rand(3) === 0) {
        const [d, b, n] = live.splice(rand(live.length), 1)[0];
        policy.revoke(d, b, n);
      } else {
        const d = 1 + rand(2);
        const n = 1 + rand(40);
        const r = policy.grant(d, n, 2 ** rand(5));
        if (!isRefusal(r)) live.push([d, r, n]);
      }
    }
    expect(errors).toEqual([]);
  });
});
