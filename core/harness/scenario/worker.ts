/**
 * Worker entry of a parallel sweep (see parallel.ts): loads the scenario from its spec once,
 * then runs the run indices it is sent, one at a time, posting each run's metrics back.
 */

import { describeThrown, InputError, pluginErrorIn } from "../../input/errors.ts";
import type { PathMetrics } from "../report/report.ts";
import { planRuns, type RunPlan } from "./run-scenario.ts";
import { type PluginTable, startPath } from "./runner.ts";
import { loadSpec, type ScenarioSpec } from "./spec.ts";

export type ToWorker =
  | { type: "load"; spec: ScenarioSpec; runs: number }
  | { type: "run"; index: number };

export type FromWorker =
  | { type: "progress"; index: number; simulatedNs: number; events: number }
  | { type: "result"; index: number; metrics: PathMetrics; events: number }
  /** `input`: bad user input (an InputError), which the CLI reports as such (exit 2). */
  | { type: "error"; index: number; message: string; input: boolean; plugin?: [string, string] };

/** Least wall time between two progress messages of one run. */
const PROGRESS_EVERY_MS = 100;
/** A run advances in this many slices, so progress can be posted between them. */
const SLICES = 100;

declare const self: Worker;
const post = (m: FromWorker) => self.postMessage(m);

let loaded: Promise<{ plan: RunPlan; table: PluginTable }> | undefined;

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  if (msg.type === "load") {
    loaded = loadSpec(msg.spec).then(({ raw, scn, table }) => {
      const plan = planRuns(raw, scn);
      if (plan.runs.length !== msg.runs)
        throw new Error(
          `the scenario planned ${plan.runs.length} runs here, ${msg.runs} in the parent`,
        );
      return { plan, table };
    });
    loaded.catch(() => {}); // reported by each run that awaits it, not as an unhandled rejection
    return;
  }
  try {
    const { plan, table } = await loaded!;
    run(plan, table, msg.index);
  } catch (err) {
    const input = err instanceof InputError;
    const p = pluginErrorIn(err);
    const plugin: [string, string] | undefined = p && [p.plugin, p.hook];
    post({ type: "error", index: msg.index, message: describeThrown(err), input, plugin });
  }
};

/** One run, in slices (slicing never changes the event order; see runScenarioAsync). */
function run(plan: RunPlan, table: PluginTable, index: number): void {
  const r = plan.runs[index]!;
  const state = startPath(r.scenario, r.path, table, r.params, {
    index,
    total: plan.runs.length,
  });
  const { sim, untilNs } = state;
  const slice = Math.max(1000, Math.ceil(untilNs / SLICES));
  let posted = performance.now(); // host clock: progress messages only
  while (sim.now < untilNs) {
    const target = Math.min(untilNs, sim.now + slice);
    sim.run(target);
    if (sim.now < target) break; // stopped early, as a single sim.run(untilNs) would be
    const now = performance.now(); // host clock
    if (now - posted >= PROGRESS_EVERY_MS) {
      post({ type: "progress", index, simulatedNs: sim.now, events: sim.eventsProcessed });
      posted = now;
    }
  }
  const done = state.finish();
  post({ type: "result", index, metrics: done.metrics, events: done.events });
}
