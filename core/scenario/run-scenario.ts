import type { EventBus } from "../events/bus.ts";
import { parseCostModel } from "../machine/parse.ts";
import type { Simulator } from "../sim/kernel.ts";
import { durationNs, type Scenario } from "./define.ts";
import { expandMatrix, type MatrixPoint } from "./load.ts";
import type { Report, ReportPoint } from "./report.ts";
import { type PluginTable, type RunInfo, refName, runPath } from "./runner.ts";

export interface ScenarioRunOptions {
  /** Attach listeners to each run's bus (trace, live feed). */
  observe?: (bus: EventBus, info: RunInfo, sim: Simulator) => void;
  /** After each (point, path) run: for progress display. */
  progress?: (
    done: number,
    total: number,
    info: { path: string; params: Record<string, unknown>; events: number },
  ) => void;
}

/** Runs every matrix point over every path, serially, in order, and builds the report. */
export function runScenario(
  raw: unknown,
  scn: Scenario,
  table: PluginTable,
  opts: ScenarioRunOptions = {},
): Report {
  const points: MatrixPoint[] = expandMatrix(raw, scn);
  const total = points.reduce((n, p) => n + p.scenario.paths.length, 0);
  let done = 0;
  const out: ReportPoint[] = [];
  for (const p of points) {
    const paths: ReportPoint["paths"] = {};
    for (const ref of p.scenario.paths) {
      const run = runPath(p.scenario, ref, table, p.params, { observe: opts.observe });
      paths[refName(ref)] = run.metrics;
      opts.progress?.(++done, total, { path: refName(ref), params: p.params, events: run.events });
    }
    out.push({ params: p.params, paths });
  }
  return {
    scenario: scn.name,
    seed: scn.seed,
    durationNs: durationNs(scn.duration),
    costModel: parseCostModel(scn.cost) as unknown as Record<string, number>,
    points: out,
  };
}
