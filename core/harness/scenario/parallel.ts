import { availableParallelism } from "node:os";
import { describeThrown, InputError, PluginError, pluginErrorIn } from "../../input/errors.ts";
import type { PathMetrics, Report } from "../report/report.ts";
import { durationNs, type Scenario } from "./define.ts";
import { PROBE_BUDGET_NS, PROBE_SHARE, RunOrder } from "./run-order.ts";
import {
  assembleReport,
  describeRun,
  planRuns,
  RunFailedError,
  type RunPlan,
} from "./run-scenario.ts";
import { type PluginTable, refName, startPath } from "./runner.ts";
import { type LoadedScenario, loadSpec, type ScenarioSpec } from "./spec.ts";
// Types only: the worker module installs a message handler wherever it is evaluated.
import type { FromWorker, Probed, ToWorker } from "./worker.ts";
import { closed, dropWorker, exited, keepWorker, newWorker, takeKept } from "./worker-pool.ts";

/**
 * Parallel sweeps: the runs of a scenario's plan (every matrix point times every path) are
 * taken one at a time by N runners: this thread and N - 1 Bun workers, each of which loads the
 * scenario again from its spec. Results are merged in plan order, so the report is
 * byte-identical to a serial run. This thread starts running at once; a new worker starts only
 * when the runs left are worth its start-up (WORKER_WORTH_MS), so a short sweep stays on this
 * thread. Workers are kept after a sweep that went well, idle and not holding the process open,
 * for the next sweep in this process (which they join at once).
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
  /** The run's CPU time in the thread that ran it, boot to finish (host clock). */
  cpuNs: number;
  /** Which thread ran it: 0 this one, 1.. the sweep's workers in the order they joined. */
  thread: number;
  /** A worker's CPU time since it started (its start-up included) when the run ended. */
  threadCpuNs?: number;
  /** How much of `threadCpuNs` went to the worker's start-up (modules, scenario) and to probes. */
  threadStartNs?: number;
  threadProbeNs?: number;
}

/** A run's host-clock figures and the thread that ran it. */
type HostTimes = Pick<
  RunTiming,
  "wallNs" | "cpuNs" | "thread" | "threadCpuNs" | "threadStartNs" | "threadProbeNs"
>;

export interface ParallelRunOptions {
  /** Workers to start (at most one per run). */
  workers: number;
  /** Called as runs advance and finish. */
  progress?: (p: SweepProgress) => void;
  /** Called as each run finishes, in the order they finish (not plan order). */
  timed?: (t: RunTiming) => void;
  /**
   * Start new workers only once this thread estimates more CPU time of runs left than this
   * (default WORKER_WORTH_MS; 0: start them at once). Kept workers always join.
   */
  workerWorthMs?: number;
  /** The scenario `spec` names, when the caller has loaded it already (workers load their own). */
  loaded?: LoadedScenario;
}

/**
 * Default workers: one CPU fewer than the host has. A single run already keeps more than one CPU
 * busy (Bun's own threads), so on a 2-CPU host two workers measured slower than one (README).
 */
export function defaultWorkers(): number {
  return Math.max(1, (navigator.hardwareConcurrency || availableParallelism()) - 1);
}

/** A run in this thread yields to the workers' messages after this much wall time. */
const YIELD_EVERY_MS = 5;
/** A run in this thread advances in slices of at most this share of its simulated time. */
const SLICES = 1000;
/**
 * A new worker is started only when this thread estimates at least this much CPU time of runs
 * left: a worker's start-up (loading the modules, JIT-compiling the model again in its own VM)
 * measured about 2 CPU-s on the 2-CPU host (JITWorker thread time), so at this much work left
 * it costs at most a fifth of the share a second runner takes over (assumed trade-off). CPU
 * time, not wall time: on a busy machine wall time would overstate the work and start workers
 * whose start-up then competes for the same CPUs.
 */
export const WORKER_WORTH_MS = 20_000;
/** This thread runs this much CPU time (or one run) before it estimates the runs left. */
const ESTIMATE_AFTER_MS = 250;

/** The calling thread's CPU time since it started, ns (host clock: scheduling and --timing). */
export function threadCpuNs(): number {
  const u = process.threadCpuUsage();
  return (u.user + u.system) * 1000;
}
const threadCpuMs = () => threadCpuNs() / 1e6;

/**
 * Runs every (point, path) of the scenario named by `spec` over workers.
 * @throws InputError (also when a worker finds one), RunFailedError (a run threw)
 */
export async function runScenarioParallel(
  spec: ScenarioSpec,
  opts: ParallelRunOptions,
): Promise<Report> {
  const wanted = Math.max(0, opts.workers - 1);
  const worthMs = opts.workerWorthMs ?? WORKER_WORTH_MS;
  // Kept workers have paid their start-up: they join at once. With nothing to weigh, new ones
  // start now too, so they import and load the spec while this thread does the same.
  const workers = takeKept(spec, wanted);
  if (worthMs <= 0) while (workers.length < wanted) workers.push(newWorker(spec));
  let plan: RunPlan;
  let scn: Scenario;
  let table: PluginTable;
  try {
    const loaded = opts.loaded ?? (await loadSpec(spec));
    scn = loaded.scn;
    table = loaded.table;
    plan = planRuns(loaded.raw, scn);
  } catch (e) {
    for (const w of workers) keepWorker(w);
    throw e;
  }
  const total = plan.runs.length;
  const at = runsAt(plan);
  const useful = Math.min(wanted, total - 1);
  for (const w of workers.splice(Math.max(0, useful))) keepWorker(w);
  const metrics: (PathMetrics | undefined)[] = new Array(total);
  const runNs = plan.runs.map((r) => durationNs(r.scenario.duration));
  const totalNs = runNs.reduce((a, b) => a + b, 0);
  const inFlight = new Map<number, { simulatedNs: number; events: number }>();
  let done = 0;
  let doneNs = 0;
  let doneEvents = 0;
  const simulatedNow = () => {
    let ns = doneNs;
    for (const r of inFlight.values()) ns += r.simulatedNs;
    return ns;
  };
  const report = () => {
    if (opts.progress === undefined) return;
    let events = doneEvents;
    for (const r of inFlight.values()) events += r.events;
    opts.progress({ done, total, simulatedNs: simulatedNow(), totalNs, events });
  };

  let ok = false;
  try {
    await new Promise<void>((resolve, reject) => {
      const order = new RunOrder(total);
      let probing = false;
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
      const finished = (index: number, m: PathMetrics, events: number, host: HostTimes) => {
        metrics[index] = m;
        const { params, path } = at[index]!;
        const [simNs, ios] = [runNs[index]!, m.ios];
        opts.timed?.({ index, total, path, params, simNs, events, ios, ...host });
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
      const start = (w: Worker, busy: { index: number }) => {
        const index = order.take();
        busy.index = index;
        if (index < 0) return;
        inFlight.set(index, { simulatedNs: 0, events: 0 });
        w.postMessage({ type: "run", index, total, at: at[index] } satisfies ToWorker);
      };
      // The first worker started for a long sweep (maybeMore), while it would start up anyway,
      // probes the runs not started yet so that the rest go longest first (run-order.ts); then
      // it takes the longest. Workers that join at once (kept, or no start-up to weigh) do not.
      const probe = (w: Worker): boolean => {
        if (probing || order.left <= 1 + useful) return false;
        probing = true;
        const runs = order.notStarted().map((index) => {
          const untilNs = Math.max(1000, Math.ceil(runNs[index]! * PROBE_SHARE));
          return { index, at: at[index]!, untilNs };
        });
        w.postMessage({ type: "probe", runs, budgetNs: PROBE_BUDGET_NS } satisfies ToWorker);
        return true;
      };
      let joined = 0;
      const enlist = (w: Worker, probeFirst = false) => {
        const busy = { index: -1 };
        const thread = ++joined;
        w.onmessage = (e: MessageEvent<FromWorker | Probed>) => {
          const m = e.data;
          if (m.type === "probed") {
            order.reorder(m.runs, m.events, PROBE_SHARE);
            return settled || start(w, busy);
          }
          if (m.type === "error") return fail(m.index, m.message, m.input, m.plugin);
          if (m.type === "progress") {
            inFlight.set(m.index, { simulatedNs: m.simulatedNs, events: m.events });
            return report();
          }
          const { wallNs, cpuNs, threadCpuNs, threadStartNs, threadProbeNs } = m;
          const host = { wallNs, cpuNs, thread, threadCpuNs, threadStartNs, threadProbeNs };
          finished(m.index, m.metrics, m.events, host);
          if (!settled) start(w, busy);
        };
        // Uncaught in the worker (outside a run's try) or the worker died: blame its current run.
        w.onerror = (e) => fail(busy.index, e.message || "the worker crashed");
        closed.set(w, () => fail(busy.index, "the worker exited"));
        if (!(probeFirst && probe(w))) start(w, busy);
        if (exited.has(w)) fail(busy.index, "the worker exited");
      };
      for (const w of workers) enlist(w);
      // This thread's CPU time since it began running, and the simulated time it advanced: its
      // rate estimates the CPU time of the runs left, which decides whether new workers pay off.
      const cpu0 = threadCpuMs();
      let hereNs = 0;
      let hereRuns = 0;
      const maybeMore = () => {
        if (workers.length >= useful || hereNs <= 0) return;
        const hereMs = threadCpuMs() - cpu0;
        if (hereMs < ESTIMATE_AFTER_MS && hereRuns === 0) return;
        const leftMs = (hereMs / hereNs) * (totalNs - simulatedNow());
        if (leftMs < worthMs) return;
        while (workers.length < useful) {
          const w = newWorker(spec);
          workers.push(w);
          enlist(w, true);
        }
      };
      // This thread's share: runs taken from the same queue, in slices, yielding between them
      // so the workers' messages are answered while it runs.
      const runHere = async () => {
        for (let index = order.take(); !settled && index >= 0; index = order.take()) {
          const r = plan.runs[index]!;
          inFlight.set(index, { simulatedNs: 0, events: 0 });
          try {
            const wall0 = performance.now(); // host clock: yields and --timing only
            const cpu0 = threadCpuNs();
            let ran = wall0;
            const state = startPath(r.scenario, r.path, table, r.params, { index, total });
            const { sim, untilNs } = state;
            const slice = Math.max(1000, Math.ceil(untilNs / SLICES));
            while (sim.now < untilNs && !settled) {
              const from = sim.now;
              const target = Math.min(untilNs, from + slice);
              sim.run(target);
              const now = performance.now(); // host clock
              hereNs += sim.now - from;
              if (sim.now < target) break; // stopped early, as a single sim.run(untilNs) would be
              if (now - ran < YIELD_EVERY_MS) continue;
              inFlight.set(index, { simulatedNs: sim.now, events: sim.eventsProcessed });
              maybeMore();
              await new Promise((go) => setImmediate(go));
              ran = performance.now(); // host clock
            }
            if (settled) return;
            const run = state.finish();
            hereRuns++;
            const wallNs = (performance.now() - wall0) * 1e6; // host clock
            const cpuNs = threadCpuNs() - cpu0;
            finished(index, run.metrics, run.events, { wallNs, cpuNs, thread: 0 });
            maybeMore();
          } catch (e) {
            const p = pluginErrorIn(e);
            return fail(index, describeThrown(e), e instanceof InputError, p && [p.plugin, p.hook]);
          }
        }
      };
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

export { keptWorkers, startedWorkers } from "./worker-pool.ts";
