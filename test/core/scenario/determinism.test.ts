import { expect, test } from "bun:test";
import { TraceRecorder } from "../../../core/events/trace.ts";
import {
  applySets,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
} from "../../../core/scenario/load.ts";
import { reportJson } from "../../../core/scenario/report.ts";
import { runScenario } from "../../../core/scenario/run-scenario.ts";

async function traceOf(seed: number) {
  const raw = applySets(await loadScenarioFile("default", process.cwd()), [
    `seed=${seed}`,
    'duration="2ms"',
  ]);
  const scn = parseScenario(raw);
  const table = await loadScenarioPlugins(scn, process.cwd());
  const traces: TraceRecorder[] = [];
  const report = runScenario(raw, scn, table, {
    observe: (bus, info) => traces.push(new TraceRecorder(bus, { domainNames: info.domainNames })),
  });
  return {
    trace: traces.map((t) => t.serialize()).join("\n"),
    report: reportJson(report),
    events: traces[0]!.recorded,
  };
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
