/**
 * The policy kit's speed check: every policy is timed on the real 262,144-page window, and one
 * whose work grows with the window (it passes every other check on the kit's 1,024 pages) is
 * flagged before a user runs it for minutes. `check-policy` prints the figures.
 */

import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { REAL_WINDOW_PAGES, SLOW_SECONDS } from "../../../../core/harness/policy-kit/speed.ts";
import { loadPlugin, runConformance } from "../../../../core/index.ts";
import { cli } from "../../../helpers/cli.ts";

const REPO = resolve(import.meta.dir, "../../../..");
const SCAN = "test/fixtures/window-scan-policy.ts";

describe("policy kit: speed on the real window", () => {
  test("the window is the default root complex's: 2 GiB of 8 KiB pages", () => {
    expect(REAL_WINDOW_PAGES).toBe(262_144);
  });

  test("a built-in policy is timed and passes", async () => {
    const report = runConformance(await loadPlugin("bitmap-next-fit", { cwd: REPO }));
    const speed = report.checks.find((c) => c.name === "speed")!;
    expect(speed.passed).toBe(true);
    expect(speed.detail).toContain("calls/s on the 262,144-page window");
    expect(report.speed!.windowPages).toBe(262_144);
    expect(report.speed!.callsPerSecond).toBeGreaterThan(0);
    expect(report.speed!.defaultRunSeconds).toBeLessThan(SLOW_SECONDS);
    expect(report.passed).toBe(true);
  });

  test("a policy that scans the window passes every other check and is flagged too slow", async () => {
    const report = runConformance(await loadPlugin(SCAN, { cwd: REPO }));
    const failed = report.checks.filter((c) => !c.passed).map((c) => c.name);
    expect(failed).toEqual(["speed"]);
    expect(report.speed!.tooSlow).toBe(true);
    expect(report.speed!.defaultRunSeconds).toBeGreaterThan(SLOW_SECONDS);
    expect(report.checks.find((c) => c.name === "speed")!.detail).toContain(
      "too slow for real runs",
    );
  }, 60_000);

  test("check-policy prints the speed line and exits 1 for a policy too slow", async () => {
    const ok = await cli("check-policy", "bitmap-next-fit");
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/ok {4}speed +[\d,]+ calls\/s on the 262,144-page window/);
    const slow = await cli("check-policy", SCAN);
    expect(slow.code).toBe(1);
    expect(slow.out).toMatch(/FAIL {2}speed .* too slow for real runs/);
  }, 120_000);
});
