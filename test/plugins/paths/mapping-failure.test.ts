import { describe, expect, test } from "bun:test";
import {
  applySets,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
} from "../../../core/harness/scenario/load.ts";
import { runScenario } from "../../../core/harness/scenario/run-scenario.ts";

/** The default scenario on every path (SR-IOV too) with a DVMA window of `pages` pages. */
async function smallWindow(pages: number) {
  const raw = applySets(await loadScenarioFile("default", process.cwd()), [
    'duration="2ms"',
    'paths=["direct","service-domain","bare-metal","sriov"]',
    `machine.rootComplexes.0.virtualDma={"base":2147483648,"size":${pages * 8192}}`,
  ]);
  const scn = parseScenario(raw);
  return runScenario(raw, scn, await loadScenarioPlugins(scn, process.cwd()));
}

describe("a failed mapping on every path: back off, retry, count, report, never a crash", () => {
  test("32 pages: some rings do not fit, and the devices that came up run out of DVMA for buffers", async () => {
    const rep = await smallWindow(32);
    const { direct, "service-domain": svc, "bare-metal": bare, sriov } = rep.points[0]!.paths;
    for (const m of [direct!, svc!, bare!, sriov!]) {
      expect(m.extra.invariantViolations).toBe(0);
      expect(m.faults).toBe(0); // no DMA through a mapping that was never made
      expect(m.extra["errors.setup-failed"]).toBeGreaterThan(0);
      expect(m.ios).toBeGreaterThan(0);
      // Every failure is counted by its reason.
      expect(m.errors).toBe(
        Object.entries(m.extra)
          .filter(([k]) => k.startsWith("errors."))
          .reduce((a, [, v]) => a + (v as number), 0),
      );
    }
    // The service domain's backend answers map-failed, and each lane retries after backing off.
    expect(svc!.extra["errors.map-failed"]).toBeGreaterThan(50);
    expect(direct!.extra["errors.nack:no free range of 1 pages"]).toBeGreaterThan(50);
    expect(bare!.extra["errors.nack:no free range of 1 pages"]).toBeGreaterThan(1000);
    expect(sriov!.extra["errors.nack:no free range of 1 pages"]).toBeGreaterThan(50);
  });

  test("one page: no ring fits, no device starts, each driver retries, and the run completes", async () => {
    const rep = await smallWindow(1);
    for (const m of Object.values(rep.points[0]!.paths)) {
      expect([m.ios, m.faults, m.extra.invariantViolations]).toEqual([0, 0, 0]);
      expect(m.errors).toBe(m.extra["errors.setup-failed"]);
      // 4 devices (2 guests x NIC and NVMe), each tried again every 100 us of the 2 ms run.
      expect(m.errors).toBeGreaterThan(4);
      expect(m.errors).toBeLessThanOrEqual(4 * 20);
    }
  });
});
