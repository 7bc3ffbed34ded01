import { describe, expect, test } from "bun:test";
import { listBuiltinPlugins, loadPlugin } from "../../core/harness/plugin/loader.ts";
import {
  type ConformanceReport,
  formatConformance,
  runConformance,
} from "../../core/harness/policy-kit/conformance.ts";
import { definePlugin, type PolicyMeter } from "../../core/index.ts";
import { MeterLog } from "../../core/model/domains/policy-meter.ts";
import firstFit from "../../plugins/policies/first-fit.ts";
import { IovaRbTree } from "../../plugins/policies/iova/iova-tree.ts";
import { outOfWindow, overlaps, throws } from "../fixtures/plugins/broken-policy.ts";

const builtins = (await listBuiltinPlugins()).filter((p) => p.kind.startsWith("policy."));

describe("conformance kit: built-in policies", () => {
  test("finds the policy catalogue", () => {
    expect(builtins.map((p) => p.name)).toEqual(
      expect.arrayContaining([
        "bitmap-next-fit",
        "buddy",
        "first-fit",
        "magazine",
        "negotiate-per-map",
        "next-fit-pools",
        "quota",
        "rbtree",
        "iova-rbtree",
        "iova-augmented",
        "iova-maple",
        "iova-rcache",
        "iommu-common",
        "static-partition",
      ]),
    );
  });

  for (const info of builtins) {
    test(`${info.name} passes every check`, async () => {
      const report = runConformance(await loadPlugin(info.name, { cwd: "/" }));
      if (!report.passed) throw new Error(formatConformance(report));
      expect(report.checks.length).toBe(info.kind === "policy.global" ? 8 : 7);
    });
  }

  test("the same seed replays the same report; options reach the plugin", async () => {
    const rbtree = await loadPlugin("rbtree", { cwd: "/" });
    // Everything but the speed check's timing replays.
    const timeless = (r: ConformanceReport) => ({
      ...r,
      speed: undefined,
      checks: r.checks.filter((c) => c.name !== "speed"),
    });
    const a = runConformance(rbtree, { seed: 9, runs: 3, options: { sizeAligned: false } });
    expect(timeless(a)).toEqual(
      timeless(runConformance(rbtree, { seed: 9, runs: 3, options: { sizeAligned: false } })),
    );
    expect(a.checks[0]).toEqual({
      name: "setup",
      passed: true,
      detail: 'options {"sizeAligned":false,"dma32Pages":0}',
    });
    expect(runConformance(firstFit, { windowPages: 4096, runs: 2 }).passed).toBe(true);
  });
});

describe("conformance kit: broken policies fail, naming the plugin and the value", () => {
  test("overlapping allocations", () => {
    const report = runConformance(overlaps);
    expect(report.passed).toBe(false);
    const text = formatConformance(report);
    expect(text).toMatch(
      /FAIL {2}random operations +\[plugin broken-overlaps\] alloc: returned \d+ for alloc\(npages \d+, align \d+, cpu \d\): page \d+ is already allocated \(run \d+, step \d+; seed 1\)/,
    );
    expect(text).toContain("broken-overlaps: 3 of 7 checks FAILED"); // the speed check meets it too
  });

  test("a grant outside the window", () => {
    const report = runConformance(outOfWindow);
    const fill = report.checks.find((c) => c.name === "frees what it grants");
    expect(fill).toEqual({
      name: "frees what it grants",
      passed: false,
      detail:
        "[plugin broken-out-of-window] grant: returned 1024 for grant(domain 1, npages 1, align 1): range [1024, 1025) is outside the window [0, 1024) (filling a new policy; seed 1)",
    });
  });

  test("a policy that throws", () => {
    const report = runConformance(throws);
    expect(report.checks.filter((c) => !c.passed).map((c) => c.detail)).toContain(
      "[plugin broken-throws] free: free is not implemented (freeing every other page; seed 1)",
    );
  });

  test("inexact stats, a bad factory, bad options and other kinds are reported, not thrown", () => {
    const lying = definePlugin({
      name: "lying-stats",
      kind: "policy.local",
      version: "1",
      setup: () => () => ({
        addRange: () => {},
        removeRange: () => {},
        alloc: () => -1,
        free: () => {},
        stats: () => ({ allocatedPages: 0, freePages: Number.NaN, allocations: 0, failures: 0 }),
      }),
    });
    expect(runConformance(lying).checks[1].detail).toStartWith(
      "[plugin lying-stats] stats: freePages is NaN, not a finite number",
    );
    const forgetful = definePlugin({
      name: "forgetful",
      kind: "policy.local",
      version: "1",
      setup: () => (ctx) =>
        Object.assign(new IovaRbTree(ctx.windowPages, ctx.meter), {
          stats: () => ({ allocatedPages: 0, freePages: 0, allocations: 0, failures: 0 }),
        }),
    });
    expect(runConformance(forgetful).checks[1].detail).toMatch(
      /^\[plugin forgetful\] stats: allocatedPages is 0, but \d+ pages are allocated \(run 0, step \d+; seed 1\)$/,
    );
    const noFactory = definePlugin({
      name: "no-factory",
      kind: "policy.global",
      version: "1",
      setup: () => 3 as never,
    });
    expect(runConformance(noFactory).checks).toEqual([
      {
        name: "setup",
        passed: false,
        detail: "[plugin no-factory] setup: returned 3, not a policy factory (ctx) => policy",
      },
    ]);
    const bad = runConformance(firstFit, { options: { maxPagesPerGuest: 0 } });
    expect(bad.checks[0].detail).toContain('plugin "first-fit" option /maxPagesPerGuest');
    const observer = definePlugin({ name: "obs", kind: "observer", version: "1", setup() {} });
    expect(formatConformance(runConformance(observer))).toContain(
      "[plugin obs] kind is observer; the kit checks policy.global and policy.local plugins",
    );
  });
});

describe("conformance kit: the meter records of every call are checked", () => {
  /** iova-rbtree with one meter rule broken by `misuse` at each alloc. */
  const misusing = (name: string, misuse: (m: PolicyMeter, lock: number) => void) =>
    definePlugin({
      name,
      kind: "policy.local",
      version: "1",
      setup: () => (ctx) => {
        const inner = new IovaRbTree(ctx.windowPages, ctx.meter);
        const extra = ctx.meter.lock("extra");
        return Object.assign(inner, {
          alloc: (n: number, a: number, c: number, l?: number) => {
            const got = IovaRbTree.prototype.alloc.call(inner, n, a, c, l);
            misuse(ctx.meter, extra);
            return got;
          },
        });
      },
    });

  test("iova-rbtree's meter passes: one spin lock, node work in every alloc", async () => {
    const report = runConformance(await loadPlugin("iova-rbtree", { cwd: "/" }), { runs: 3 });
    const meter = report.checks.find((c) => c.name === "meter")!;
    expect(meter.passed).toBe(true);
    expect(meter.detail).toMatch(
      /^\d+ calls checked after each: spin lock "iova_rbtree_lock", units "node"; locks released in the call that took them, work at most \d+ units per call \(bound 11968\)$/,
    );
  });

  test("a lock still held when the call returns, a lock released twice, an undeclared unit, a fractional count, too much work", () => {
    const cases: [string, (m: PolicyMeter, lock: number) => void, RegExp][] = [
      [
        "holds",
        (m, l) => m.acquire(l),
        /alloc: meter: returned holding "extra": every lock taken in a call must be released in it/,
      ],
      [
        "double-release",
        (m, l) => m.release(l),
        /alloc: meter: released lock "extra" without holding it/,
      ],
      ["undeclared-unit", (m) => m.work(7, 1), /alloc: meter: work unit 7 was never declared/],
      ["fraction", (m) => m.work(0, 0.5), /alloc: meter: work count 0.5 is not an integer/],
      [
        "too-much",
        (m) => m.work(0, 1e9),
        /alloc: meter: reported \d+ units of work in one call, more than 11968/,
      ],
    ];
    for (const [name, misuse, message] of cases) {
      const report = runConformance(misusing(`meter-${name}`, misuse), { runs: 2 });
      expect(report.passed).toBe(false);
      const meter = report.checks.find((c) => c.name === "meter")!;
      expect(meter.passed).toBe(false);
      expect(formatConformance(report)).toMatch(message);
    }
  });

  test("an alloc that declared locks but reported no work fails: it would cost nothing", () => {
    const silent = definePlugin({
      name: "silent",
      kind: "policy.local",
      version: "1",
      setup: () => (ctx) => {
        ctx.meter.lock("mine");
        return new IovaRbTree(ctx.windowPages, new MeterLog());
      },
    });
    const report = runConformance(silent, { runs: 2 });
    expect(formatConformance(report)).toContain(
      "[plugin silent] alloc: meter: reported no work: a call that declared locks or units must say what it did",
    );
  });
});
