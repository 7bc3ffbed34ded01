/**
 * Worker entry of a parallel sweep (see parallel.ts): loads the scenario from its spec (once per
 * spec, so a worker kept for the next sweep of the same scenario loads nothing), then runs the
 * runs it is sent, one at a time, posting each run's metrics back. A run names its matrix point
 * by the point's values: the worker parses only the points it runs, once each, and points that
 * share a machine share its parsed description (machineOf).
 */

import { describeThrown, InputError, pluginErrorIn } from "../../input/errors.ts";
import type { PathMetrics } from "../report/report.ts";
import type { Scenario } from "./define.ts";
import { pointScenario } from "./load.ts";
import { type RunAt, runsAt } from "./parallel.ts";
import { planRuns } from "./run-scenario.ts";
import { type PluginTable, refName, startPath } from "./runner.ts";
import { loadSpec, type ScenarioSpec } from "./spec.ts";

export type ToWorker =
  | { type: "load"; spec: ScenarioSpec }
  | {
      type: "run";
      index: number;
      /** Runs in the sweep's plan (checked against the worker's own plan when it makes one). */
      total: number;
      /**
       * Where the run sits: its matrix point's values and which of the point's paths (by
       * position, and its name to check). Without it the worker plans the whole sweep itself.
       */
      at?: RunAt;
    };

export type FromWorker =
  | { type: "progress"; index: number; simulatedNs: number; events: number }
  /** `wallNs`: the run's wall time in the worker, boot to finish (host clock, for --timing). */
  | { type: "result"; index: number; metrics: PathMetrics; events: number; wallNs: number }
  /** `input`: bad user input (an InputError), which the CLI reports as such (exit 2). */
  | { type: "error"; index: number; message: string; input: boolean; plugin?: [string, string] };

/** Least wall time between two progress messages of one run. */
const PROGRESS_EVERY_MS = 100;
/** A run advances in this many slices, so progress can be posted between them. */
const SLICES = 100;

declare const self: Worker;
const post = (m: FromWorker) => self.postMessage(m);

interface Loaded {
  raw: unknown;
  scn: Scenario;
  table: PluginTable;
  /** Parsed matrix points, by their values' JSON. */
  points: Map<string, Scenario>;
  /** Where each run sits, when a run came without it (planned once). */
  plan?: RunAt[];
}

let loadedKey: string | undefined;
let loaded: Promise<Loaded> | undefined;

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  if (msg.type === "load") {
    const key = JSON.stringify(msg.spec);
    if (key === loadedKey) return;
    loadedKey = key;
    loaded = loadSpec(msg.spec).then(({ raw, scn, table }) => ({
      raw,
      scn,
      table,
      points: new Map(),
    }));
    loaded.catch(() => {}); // reported by each run that awaits it, not as an unhandled rejection
    return;
  }
  try {
    run(await loaded!, msg);
  } catch (err) {
    const input = err instanceof InputError;
    const p = pluginErrorIn(err);
    const plugin: [string, string] | undefined = p && [p.plugin, p.hook];
    post({ type: "error", index: msg.index, message: describeThrown(err), input, plugin });
  }
};

/** One run, in slices (slicing never changes the event order; see runScenarioAsync). */
function run(l: Loaded, msg: Extract<ToWorker, { type: "run" }>): void {
  const { index } = msg;
  const at = msg.at ?? planned(l, msg.total)[index]!;
  const pointKey = JSON.stringify(at.params);
  let scn = l.points.get(pointKey);
  if (scn === undefined) {
    scn = pointScenario(l.raw, at.params);
    l.points.set(pointKey, scn);
  }
  const path = scn.paths[at.pathIndex];
  if (path === undefined || refName(path) !== at.path)
    throw new Error(`the scenario here has no path "${at.path}" at ${at.pathIndex}`);
  const wall0 = performance.now(); // host clock: progress messages and --timing only
  const state = startPath(scn, path, l.table, at.params, { index, total: msg.total });
  const { sim, untilNs } = state;
  const slice = Math.max(1000, Math.ceil(untilNs / SLICES));
  let posted = wall0;
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
  const wallNs = (performance.now() - wall0) * 1e6; // host clock
  post({ type: "result", index, metrics: done.metrics, events: done.events, wallNs });
}

/** Where every run of the sweep sits, planned here (for senders that name runs by index only). */
function planned(l: Loaded, total: number): RunAt[] {
  l.plan ??= runsAt(planRuns(l.raw, l.scn));
  if (l.plan.length !== total)
    throw new Error(`the scenario planned ${l.plan.length} runs here, ${total} in the parent`);
  return l.plan;
}
