/**
 * Worker entry of a parallel sweep (see parallel.ts): loads the scenario from its spec (once per
 * spec, so a worker kept for the next sweep of the same scenario loads nothing), then runs the
 * runs it is sent, one at a time, posting each run's metrics back. A run names its matrix point
 * by the point's values: the worker parses only the points it runs, once each, and points that
 * share a machine share its parsed description (machineOf).
 */

import { describeThrown, InputError, pluginErrorIn } from "../../input/errors.ts";
import type { PathMetrics } from "../report/report.ts";
import type { PluginRef, Scenario } from "./define.ts";
import { pointScenario } from "./load.ts";
import { type RunAt, runsAt, threadCpuNs } from "./parallel.ts";
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
    }
  /**
   * Boot each run and advance it to `untilNs` only, counting its kernel events (the sweep's cost
   * estimate, parallel.ts), in the order given, until `budgetNs` of this thread's CPU time is
   * spent. Nothing of a probe is reported but its events: a run that fails here fails for real
   * when it runs.
   */
  | { type: "probe"; runs: { index: number; at: RunAt; untilNs: number }[]; budgetNs: number };

/** A probe's answer: kernel events in each probed run's first `untilNs` (only sweeps probe). */
export interface Probed {
  type: "probed";
  runs: number[];
  events: number[];
}

export type FromWorker =
  | { type: "progress"; index: number; simulatedNs: number; events: number }
  /**
   * `wallNs` and `cpuNs`: the run's wall and CPU time in the worker, boot to finish;
   * `threadCpuNs`: the worker's CPU time since it started, start-up included; `threadStartNs`
   * and `threadProbeNs`: how much of that went to start-up (modules, scenarios) and to probes
   * (host clock, for --timing).
   */
  | {
      type: "result";
      index: number;
      metrics: PathMetrics;
      events: number;
      wallNs: number;
      cpuNs: number;
      threadCpuNs: number;
      threadStartNs: number;
      threadProbeNs: number;
    }
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
/**
 * This thread's CPU time in start-up (importing the modules, which ends here, then loading each
 * spec) and in probes, ns (host clock: --timing only).
 */
const spent = { startNs: threadCpuNs(), probeNs: 0 };

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  if (msg.type === "load") {
    const key = JSON.stringify(msg.spec);
    if (key === loadedKey) return;
    loadedKey = key;
    const cpu0 = threadCpuNs();
    loaded = loadSpec(msg.spec).then(({ raw, scn, table }) => {
      spent.startNs += threadCpuNs() - cpu0;
      return { raw, scn, table, points: new Map() };
    });
    loaded.catch(() => {}); // reported by each run that awaits it, not as an unhandled rejection
    return;
  }
  if (msg.type === "probe") return probe(await loaded!.catch(() => undefined), msg);
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
  const [scn, path] = pointOf(l, at);
  const wall0 = performance.now(); // host clock: progress messages and --timing only
  const cpu0 = threadCpuNs();
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
  const cpuNs = threadCpuNs() - cpu0;
  const { metrics, events } = done;
  const [threadStartNs, threadProbeNs] = [spent.startNs, spent.probeNs];
  post({
    type: "result",
    ...{ index, metrics, events, wallNs, cpuNs, threadCpuNs: threadCpuNs() },
    ...{ threadStartNs, threadProbeNs },
  });
}

/** The parsed scenario of the run's matrix point (parsed once per point) and its path. */
function pointOf(l: Loaded, at: RunAt): [Scenario, PluginRef] {
  const pointKey = JSON.stringify(at.params);
  let scn = l.points.get(pointKey);
  if (scn === undefined) {
    scn = pointScenario(l.raw, at.params);
    l.points.set(pointKey, scn);
  }
  const path = scn.paths[at.pathIndex];
  if (path === undefined || refName(path) !== at.path)
    throw new Error(`the scenario here has no path "${at.path}" at ${at.pathIndex}`);
  return [scn, path];
}

function probe(l: Loaded | undefined, msg: Extract<ToWorker, { type: "probe" }>): void {
  const runs: number[] = [];
  const events: number[] = [];
  const cpu0 = threadCpuNs();
  for (const r of msg.runs) {
    if (l === undefined || threadCpuNs() - cpu0 > msg.budgetNs) break;
    let sim: { eventsProcessed: number } | undefined;
    try {
      const [scn, path] = pointOf(l, r.at);
      const state = startPath(scn, path, l.table, r.at.params, { index: r.index });
      sim = state.sim;
      state.sim.run(Math.min(r.untilNs, state.untilNs));
    } catch {
      // Estimated by what it did before it failed; the run itself reports the failure.
    }
    runs.push(r.index);
    events.push(sim?.eventsProcessed ?? 0);
  }
  spent.probeNs += threadCpuNs() - cpu0;
  self.postMessage({ type: "probed", runs, events } satisfies Probed);
}

/** Where every run of the sweep sits, planned here (for senders that name runs by index only). */
function planned(l: Loaded, total: number): RunAt[] {
  l.plan ??= runsAt(planRuns(l.raw, l.scn));
  if (l.plan.length !== total)
    throw new Error(`the scenario planned ${l.plan.length} runs here, ${total} in the parent`);
  return l.plan;
}
