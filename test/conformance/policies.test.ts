import { describe, expect, test } from "bun:test";
import { listBuiltinPlugins, loadPlugin } from "../../core/harness/plugin/loader.ts";
import { formatConformance, runConformance } from "../../core/harness/policy-kit/conformance.ts";
import { definePlugin } from "../../core/index.ts";
import firstFit from "../../plugins/policies/first-fit.ts";
import { RbTreePolicy } from "../../plugins/policies/rbtree.ts";
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
        "static-partition",
      ]),
    );
  });

  for (const info of builtins) {
    test(`${info.name} passes every check`, async () => {
      const report = runConformance(await loadPlugin(info.name, { cwd: "/" }));
      if (!report.passed) throw new Error(formatConformance(report));
      expect(report.checks.length).toBe(info.kind === "policy.global" ? 6 : 5);
    });
  }

  test("the same seed replays the same report; options reach the plugin", async () => {
    const rbtree = await loadPlugin("rbtree", { cwd: "/" });
    const a = runConformance(rbtree, { seed: 9, runs: 3, options: { mode: "best-fit" } });
    expect(a).toEqual(runConformance(rbtree, { seed: 9, runs: 3, options: { mode: "best-fit" } }));
    expect(a.checks[0]).toEqual({
      name: "setup",
      passed: true,
      detail: 'options {"mode":"best-fit"}',
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
    expect(text).toContain("broken-overlaps: 2 of 5 checks FAILED");
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
        Object.assign(new RbTreePolicy(ctx.windowPages), {
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
