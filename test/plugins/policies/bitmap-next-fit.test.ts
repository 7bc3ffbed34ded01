import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { LocalPolicy } from "../../../core/index.ts";
import { MeterLog } from "../../../core/model/domains/policy-meter.ts";
import bitmapNextFit, { BitmapNextFitPolicy } from "../../../plugins/policies/bitmap-next-fit.ts";
import { policyHost } from "./policy-model.ts";

/** Not a multiple of 32, to exercise the last partial word. */
const W = 200;
const CPUS = 3;
const NONE = 0;
const FREE = 1;
const USED = 2;

function make(perCpuHint: boolean, windowPages = W, checkPolicies = true): LocalPolicy {
  const host = policyHost({ checkPolicies });
  return host.use(bitmapNextFit, { perCpuHint })({
    windowPages,
    cpus: CPUS,
    meter: new MeterLog(),
  });
}

/** First aligned start s ≥ from with n free pages in the model, or -1. */
function fitFrom(model: Uint8Array, from: number, n: number, align: number): number {
  for (let b = Math.ceil(from / align) * align; b + n <= model.length; b += align) {
    let ok = true;
    for (let p = b; p < b + n && ok; p++) ok = model[p] === FREE;
    if (ok) return b;
  }
  return -1;
}

function largestRun(model: Uint8Array): number {
  let best = 0;
  let run = 0;
  for (const s of model) {
    run = s === FREE ? run + 1 : 0;
    if (run > best) best = run;
  }
  return best;
}

const cmd = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("add" as const),
      base: fc.integer({ min: 0, max: W - 1 }),
      npages: fc.integer({ min: 1, max: 80 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("remove" as const), pick: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("alloc" as const),
      npages: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 40 })),
      align: fc.constantFrom(1, 1, 2, 4, 16, 32, 64),
      cpu: fc.integer({ min: 0, max: CPUS - 1 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("free" as const), pick: fc.nat() }) },
);

describe("bitmap-next-fit", () => {
  test("property: next-fit from the hint (wrapping once), aligned, inside held ranges, never overlapping; exact accounting", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(cmd, { maxLength: 120, size: "max" }), (perCpu, cmds) => {
        const policy = make(perCpu);
        const model = new Uint8Array(W);
        const ranges: { base: number; npages: number }[] = [];
        const allocs: { base: number; npages: number }[] = [];
        const hints = [0, 0, 0];
        let allocations = 0;
        let failures = 0;
        for (const c of cmds) {
          if (c.op === "add") {
            const n = Math.min(c.npages, W - c.base);
            if (!model.subarray(c.base, c.base + n).every((s) => s === NONE)) continue;
            policy.addRange(c.base, n);
            model.fill(FREE, c.base, c.base + n);
            ranges.push({ base: c.base, npages: n });
          } else if (c.op === "remove") {
            if (ranges.length === 0) continue;
            const i = c.pick % ranges.length;
            const r = ranges[i];
            if (!model.subarray(r.base, r.base + r.npages).every((s) => s === FREE)) continue;
            policy.removeRange(r.base, r.npages);
            model.fill(NONE, r.base, r.base + r.npages);
            ranges.splice(i, 1);
          } else if (c.op === "alloc") {
            const slot = perCpu ? c.cpu : 0;
            let expected = fitFrom(model, hints[slot], c.npages, c.align);
            if (expected < 0) expected = fitFrom(model, 0, c.npages, c.align);
            const got = policy.alloc(c.npages, c.align, c.cpu);
            expect(got).toBe(expected);
            if (got >= 0) {
              expect(got % c.align).toBe(0);
              model.fill(USED, got, got + c.npages);
              allocs.push({ base: got, npages: c.npages });
              hints[slot] = got + c.npages;
              allocations++;
            } else failures++;
          } else {
            if (allocs.length === 0) continue;
            const [a] = allocs.splice(c.pick % allocs.length, 1);
            policy.free(a.base, a.npages, 0);
            model.fill(FREE, a.base, a.base + a.npages);
          }
          const free = model.filter((s) => s === FREE).length;
          const largest = largestRun(model);
          expect(policy.stats!()).toEqual({
            allocatedPages: model.filter((s) => s === USED).length,
            freePages: free,
            allocations,
            failures,
            heldPages: model.filter((s) => s !== NONE).length,
            ranges: ranges.length,
            largestFreeRun: largest,
            fragmentation: free === 0 ? 0 : 1 - largest / free,
          });
        }
      }),
      { numRuns: 300 },
    );
  });

  test("next-fit moves past each allocation and wraps once", () => {
    const p = new BitmapNextFitPolicy(128);
    p.addRange(0, 64);
    expect([p.alloc(1, 1, 0), p.alloc(1, 1, 0), p.alloc(4, 4, 0)]).toEqual([0, 1, 4]);
    p.free(0, 1, 0);
    expect(p.alloc(1, 1, 0)).toBe(8); // not 0: next fit continues after the hint
    expect(p.alloc(56, 1, 0)).toBe(-1); // 55 free after the hint, and [0..] holds only 1+2
    expect(p.alloc(55, 1, 0)).toBe(9);
    expect(p.alloc(1, 1, 0)).toBe(0); // wrapped
    expect(p.alloc(1, 1, 0)).toBe(2);
    expect(p.stats()).toMatchObject({ allocatedPages: 63, freePages: 1, failures: 1 });
  });

  test("removing part of a held range splits it", () => {
    const p = new BitmapNextFitPolicy(256);
    p.addRange(32, 64);
    p.removeRange(40, 8);
    expect(p.stats()).toMatchObject({ heldPages: 56, ranges: 2, largestFreeRun: 48 });
    expect(p.alloc(9, 1, 0)).toBe(48);
    expect(() => p.removeRange(0, 4)).toThrow("not a held range");
  });

  test("single-page alloc/free churn over a full 2 GiB window keeps exact accounting", () => {
    const pages = 262_144;
    const p = make(false, pages, false);
    p.addRange(0, pages);
    const live = new Int32Array(1024);
    for (let i = 0; i < live.length; i++) live[i] = p.alloc(1, 1, 0);
    const ops = 500_000;
    for (let i = 0; i < ops; i++) {
      const slot = i & 1023;
      p.free(live[slot], 1, 0);
      live[slot] = p.alloc(1, 1, 0);
      if (live[slot] < 0) throw new Error("alloc failed");
    }
    // Speed is measured in `bun run bench`, not here.
    expect(p.stats!()).toMatchObject({ allocatedPages: 1024, freePages: pages - 1024 });
  });

  test("options: perCpuHint defaults to false and is type-checked", () => {
    const host = policyHost();
    host.use(bitmapNextFit);
    expect(host.getByName("bitmap-next-fit")?.options).toEqual({ perCpuHint: false });
    const other = policyHost();
    expect(() => other.use(bitmapNextFit, { perCpuHint: "maybe" })).toThrow(
      "/perCpuHint: Expected boolean",
    );
  });
});
