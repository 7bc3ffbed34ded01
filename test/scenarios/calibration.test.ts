import { expect, test } from "bun:test";
import { compareWithReference } from "../../core/harness/report/reference.ts";
import {
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
} from "../../core/harness/scenario/load.ts";
import { runScenario } from "../../core/harness/scenario/run-scenario.ts";

test("calibration: every published SPARC T7-1 figure is matched within 10%", async () => {
  const raw = await loadScenarioFile("calibration", process.cwd());
  const scn = parseScenario(raw);
  const report = runScenario(raw, scn, await loadScenarioPlugins(scn, process.cwd()));
  const rows = compareWithReference(scn, report);
  expect(rows.length).toBe(8);
  for (const r of rows)
    expect([r.path, r.metric, r.model, r.within]).toEqual([r.path, r.metric, r.model, true]);
  // Shape of the published result: direct near line rate, the service domain about half of it.
  const get = (path: string, metric: string) =>
    rows.find((r) => r.path === path && r.metric === metric)!.model;
  expect(get("service-domain", "throughputGbps") / get("direct", "throughputGbps")).toBeLessThan(
    0.6,
  );
  expect(get("service-domain", "extra/rtt.p50Us")).toBeGreaterThan(
    get("direct", "extra/rtt.p50Us") + 25,
  );
});
