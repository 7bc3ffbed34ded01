import { describe, expect, test } from "bun:test";
import {
  applySets,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
} from "../../../core/harness/scenario/load.ts";
import { runScenario } from "../../../core/harness/scenario/run-scenario.ts";

/**
 * The default scenario with a one-page DVMA window: no lease can be had, not even after falling
 * back to the one page a mapping needs, once a ring holds it.
 */
async function smallWindow() {
  const raw = applySets(await loadScenarioFile("default", process.cwd()), [
    'duration="2ms"',
    'machine.rootComplexes.0.virtualDma={"base":2147483648,"size":8192}',
  ]);
  const scn = parseScenario(raw);
  return runScenario(raw, scn, await loadScenarioPlugins(scn, process.cwd()));
}

describe("a failed mapping on every path: back off, retry, count, report, never a crash", () => {
  test("service-domain: the backend answers map-failed and the run completes", async () => {
    const rep = await smallWindow();
    const { direct, "service-domain": svc, "bare-metal": bare } = rep.points[0]!.paths;
    for (const m of [direct!, svc!, bare!]) expect(m.extra.invariantViolations).toBe(0);
    expect(svc!.ios).toBe(0);
    // Each lane retried after backing off: many attempts, each counted by reason.
    expect(svc!.extra["errors.map-failed"]).toBeGreaterThan(100);
    expect(svc!.errors).toBe(
      Object.entries(svc!.extra)
        .filter(([k]) => k.startsWith("errors."))
        .reduce((a, [, v]) => a + (v as number), 0),
    );
    expect(direct!.errors).toBeGreaterThan(100);
    expect(Object.keys(direct!.extra).some((k) => k.startsWith("errors.nack:"))).toBe(true);
    expect(bare!.ios).toBe(0);
    expect(bare!.errors).toBeGreaterThan(1000);
  });
});
