import { expect, test } from "bun:test";
import { reportJson } from "../../../../core/harness/report/report.ts";
import {
  applySets,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
} from "../../../../core/harness/scenario/load.ts";
import { runScenario, runScenarioAsync } from "../../../../core/harness/scenario/run-scenario.ts";
import { TraceCollector } from "../../../../core/harness/scenario/trace-collector.ts";

async function prepared(seed: number) {
  const raw = applySets(await loadScenarioFile("default", process.cwd()), [
    `seed=${seed}`,
    'duration="2ms"',
  ]);
  const scn = parseScenario(raw);
  return { raw, scn, table: await loadScenarioPlugins(scn, process.cwd()) };
}

async function traceOf(seed: number) {
  const { raw, scn, table } = await prepared(seed);
  const trace = new TraceCollector();
  const report = runScenario(raw, scn, table, { observers: [trace.plugin] });
  return { trace: trace.serialize(), report: reportJson(report), events: trace.recorded[0]! };
}

test("the same scenario and seed give a byte-identical trace and report; another seed differs", async () => {
  const a = await traceOf(1);
  const b = await traceOf(1);
  const c = await traceOf(2);
  expect(a.events).toBeGreaterThan(10_000);
  expect(b.trace === a.trace).toBe(true);
  expect(b.report).toBe(a.report);
  expect(c.trace === a.trace).toBe(false);
});

test("running in slices (as under a live server) gives the same trace and report", async () => {
  const a = await traceOf(3);
  const { raw, scn, table } = await prepared(3);
  const trace = new TraceCollector();
  const report = await runScenarioAsync(raw, scn, table, { observers: [trace.plugin] });
  expect(reportJson(report)).toBe(a.report);
  expect(trace.serialize() === a.trace).toBe(true);
});
