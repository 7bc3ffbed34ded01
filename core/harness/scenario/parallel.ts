import { availableParallelism } from "node:os";
import { describeThrown, InputError, PluginError, pluginErrorIn } from "../../input/errors.ts";
import type { PathMetrics, Report } from "../report/report.ts";
import { durationNs, type Scenario } from "./define.ts";
import {
  assembleReport,
  describeRun,
  planRuns,
  RunFailedError,
  type RunPlan,
} from "./run-scenario.ts";
import { type PluginTable, refName, startPath } from "./runner.ts";
import { loadSpec, type ScenarioSpec } from "./spec.ts";
// Types only: the worker module installs a message handler wherever it is evaluated.
import type { FromWorker, ToWorker } from "./worker.ts";

/**
 * Parallel sweeps: the runs of a scenario's plan (every matrix point times every path) are
 * taken one at a time by N runners: this thread and N - 1 Bun workers, each of which loads the
 * scenario again from its spec. Results are merged in plan order, so the report is
 * byte-identical to a serial run. Workers start (and load the spec) while this thread loads it
 * too, and are kept after a sweep that went well, idle and not holding the process open, for the
 * next sweep in this process.
 */

/** How far a sweep is: runs finished, and simulated time and events over all runs so far. */
export interface SweepProgress {
  done: number;
  total: number;
  simulatedNs: number;
  totalNs: number;
  events: number;
}

/**
 * A finished run as `--timing` prints it: where it sits, what it simulated, and the wall time it
 * took in the thread that ran it, boot to finish (host clock: never in the report).
 */
export interface RunTiming {
  index: number;
  total: number;
  path: string;
  params: Record<string, unknown>;
  simNs: number;
  events: number;
  ios: number;
  wallNs: number;
}

export interface ParallelRunOptions {
  /** Workers to start (at most one per run). */
  workers: number;
  /** Called as runs advance and finish. */
  progress?: (p: SweepProgress) => void;
  /** Called as each run finishes, in the order they finish (not plan order). */
  timed?: (t: RunTiming) => void;
}

/**
 * Default workers: one CPU fewer than the host has. A single run already keeps more than one CPU
 * busy (Bun's own threads), so on a 2-CPU host two workers measured slower than one (README).
 */
export function defaultWorkers(): number {
  return Math.max(1, (navigator.hardwareConcurrency || availableParallelism()) - 1);
}

const WORKER_URL = new URL("./worker.ts", import.meta.url);
/** A run in this thread advances in this many slices, yielding to the workers' messages between them. */
const SLICES = 100;

/**
 * Runs every (point, path) of the scenario named by `spec` over workers.
 * @throws InputError (also when a worker finds one), RunFailedError (a run threw)
 */
export async function runScenarioParallel(
  spec: ScenarioSpec,
  opts: ParallelRunOptions,
): Promise<Report> {
  // This thread is one of the runners; the others are workers. They start first, so they import
  // and load the spec while this thread does the same.
  const workers = Array.from({ length: Math.max(0, opts.workers - 1) }, () => takeWorker(spec));
  let plan: RunPlan;
  let scn: Scenario;
  let table: PluginTable;
  try {
    const loaded = await loadSpec(spec);
    scn = loaded.scn;
    table = loaded.table;
    plan = planRuns(loaded.raw, scn);
  } catch (e) {
    for (const w of workers) keepWorker(w);
    throw e;
  }
  const total = plan.runs.length;
  const at = runsAt(plan);
  for (const w of workers.splice(Math.max(0, total - 1))) keepWorker(w);
  const metrics: (PathMetrics | undefined)[] = new Array(total);
  const runNs = plan.runs.map((r) => durationNs(r.scenario.duration));
  const totalNs = runNs.reduce((a, b) => a + b, 0);
  const inFlight = new Map<number, { simulatedNs: number; events: number }>();
  let done = 0;
  let doneNs = 0;
  let doneEvents = 0;
  const report = () => {
    if (opts.progress === undefined) return;
    let simulatedNs = doneNs;
    let events = doneEvents;
    for (const r of inFlight.values()) {
      simulatedNs += r.simulatedNs;
      events += r.events;
    }
    opts.progress({ done, total, simulatedNs, totalNs, events });
  };

  let ok = false;
  try {
    await new Promise<void>((resolve, reject) => {
      let next = 0;
      let settled = false;
      const fail = (index: number, why: string, input = false, plugin?: [string, string]) => {
        if (settled || index < 0) return; // an idle worker's end loses no run
        settled = true;
        // Bad input found while booting a run (e.g. plugin options) is reported as in a serial run.
        if (input) return reject(new InputError(why));
        // A plugin's error keeps its class (the CLI's exit status for plugin errors).
        const cause = plugin && new PluginError(plugin[0], plugin[1], why);
        reject(new RunFailedError(index, `${describeRun(plan, index)}: ${why}`, { cause }));
      };
      const finished = (index: number, m: PathMetrics, events: number, wallNs: number) => {
        metrics[index] = m;
        const { params, path } = at[index]!;
        opts.timed?.({
          index,
          total,
          path,
          params,
          simNs: runNs[index]!,
          events,
          ios: m.ios,
          wallNs,
        });
        inFlight.delete(index);
        done++;
        doneNs += runNs[index]!;
        doneEvents += events;
        report();
        if (done === total) {
          settled = true;
          resolve();
        }
      };
      // This thread's share: runs taken from the same queue, in slices, yielding between them
      // so the workers' messages are answered while it runs.
      const runHere = async () => {
        while (!settled && next < total) {
          const index = next++;
          const r = plan.runs[index]!;
          inFlight.set(index, { simulatedNs: 0, events: 0 });
          try {
            const wall0 = performance.now(); // host clock: --timing only
            const state = startPath(r.scenario, r.path, table, r.params, { index, total });
            const { sim, untilNs } = state;
            const slice = Math.max(1000, Math.ceil(untilNs / SLICES));
            while (sim.now < untilNs && !settled) {
              const target = Math.min(untilNs, sim.now + slice);
              sim.run(target);
              if (sim.now < target) break; // stopped early, as a single sim.run(untilNs) would be
              inFlight.set(index, { simulatedNs: sim.now, events: sim.eventsProcessed });
              await new Promise((go) => setImmediate(go));
            }
            if (settled) return;
            const run = state.finish();
            finished(index, run.metrics, run.events, (performance.now() - wall0) * 1e6); // host clock
          } catch (e) {
            const p = pluginErrorIn(e);
            return fail(index, describeThrown(e), e instanceof InputError, p && [p.plugin, p.hook]);
          }
        }
      };
      const start = (w: Worker, busy: { index: number }) => {
        if (next < total) {
          const index = next++;
          busy.index = index;
          inFlight.set(index, { simulatedNs: 0, events: 0 });
          w.postMessage({ type: "run", index, total, at: at[index] } satisfies ToWorker);
        } else busy.index = -1;
      };
      for (const w of workers) {
        const busy = { index: -1 };
        w.onmessage = (e: MessageEvent<FromWorker>) => {
          const m = e.data;
          if (m.type === "error") return fail(m.index, m.message, m.input, m.plugin);
          if (m.type === "progress") {
            inFlight.set(m.index, { simulatedNs: m.simulatedNs, events: m.events });
            return report();
          }
          finished(m.index, m.metrics, m.events, m.wallNs);
          if (!settled) start(w, busy);
        };
        // Uncaught in the worker (outside a run's try) or the worker died: blame its current run.
        w.onerror = (e) => fail(busy.index, e.message || "the worker crashed");
        closed.set(w, () => fail(busy.index, "the worker exited"));
        start(w, busy);
        if (exited.has(w)) fail(busy.index, "the worker exited");
      }
      runHere();
    });
    ok = true;
  } finally {
    // A worker of a failed sweep may be mid-run: only a sweep that went well keeps its workers.
    for (const w of workers) {
      if (ok) keepWorker(w);
      else dropWorker(w);
    }
  }
  return assembleReport(scn, plan, metrics);
}

/** Where a run sits in its sweep, as a run message names it: its point's values and path. */
export interface RunAt {
  params: Record<string, unknown>;
  pathIndex: number;
  path: string;
}

/** Where each run of `plan` sits. */
export function runsAt(plan: RunPlan): RunAt[] {
  return plan.runs.map((r) => ({
    params: r.params,
    pathIndex: r.scenario.paths.indexOf(r.path),
    path: refName(r.path),
  }));
}

/** Idle workers kept between sweeps; at most this many. */
const idle: Worker[] = [];
const IDLE_KEPT = 8;
/** What a worker's end means to the sweep that uses it (nothing while idle). */
const closed = new WeakMap<Worker, () => void>();
/** Workers that have ended (one may end before its sweep listens). */
const exited = new WeakSet<Worker>();

/** Idle workers kept for the next sweep (tests read it). */
export function keptWorkers(): number {
  return idle.length;
}

/** A worker (kept or new), told to load `spec`, holding the process open while it works. */
function takeWorker(spec: ScenarioSpec): Worker {
  let w = idle.pop();
  if (w === undefined) {
    const fresh = new Worker(WORKER_URL);
    fresh.addEventListener("close", () => {
      exited.add(fresh);
      const i = idle.indexOf(fresh);
      if (i >= 0) idle.splice(i, 1);
      closed.get(fresh)?.();
    });
    w = fresh;
  }
  w.ref();
  w.postMessage({ type: "load", spec } satisfies ToWorker);
  return w;
}

function keepWorker(w: Worker): void {
  closed.delete(w);
  w.onmessage = null;
  w.onerror = null;
  if (idle.length >= IDLE_KEPT) dropWorker(w);
  else {
    w.unref();
    idle.push(w);
  }
}

function dropWorker(w: Worker): void {
  closed.delete(w);
  w.terminate();
}
