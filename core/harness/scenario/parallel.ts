import { availableParallelism } from "node:os";
import { InputError, PluginError } from "../../input/errors.ts";
import type { PathMetrics, Report } from "../report/report.ts";
import { durationNs } from "./define.ts";
import { assembleReport, describeRun, planRuns, RunFailedError } from "./run-scenario.ts";
import { loadSpec, type ScenarioSpec } from "./spec.ts";
import type { FromWorker, ToWorker } from "./worker.ts";

/**
 * Parallel sweeps: the runs of a scenario's plan (every matrix point times every path) are
 * handed out one at a time to Bun workers, each of which loads the scenario again from its
 * spec. Results are merged in plan order, so the report is byte-identical to a serial run.
 */

/** How far a sweep is: runs finished, and simulated time and events over all runs so far. */
export interface SweepProgress {
  done: number;
  total: number;
  simulatedNs: number;
  totalNs: number;
  events: number;
}

export interface ParallelRunOptions {
  /** Workers to start (at most one per run). */
  workers: number;
  /** Called as runs advance and finish. */
  progress?: (p: SweepProgress) => void;
}

/**
 * Default workers: one CPU fewer than the host has. A single run already keeps more than one CPU
 * busy (Bun's own threads), so on a 2-CPU host two workers measured slower than one (README).
 */
export function defaultWorkers(): number {
  return Math.max(1, (navigator.hardwareConcurrency || availableParallelism()) - 1);
}

const WORKER_URL = new URL("./worker.ts", import.meta.url);

/**
 * Runs every (point, path) of the scenario named by `spec` over workers.
 * @throws InputError (also when a worker finds one), RunFailedError (a run threw)
 */
export async function runScenarioParallel(
  spec: ScenarioSpec,
  opts: ParallelRunOptions,
): Promise<Report> {
  const { raw, scn } = await loadSpec(spec);
  const plan = planRuns(raw, scn);
  const total = plan.runs.length;
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

  const workers: Worker[] = [];
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
      const start = (w: Worker, busy: { index: number }) => {
        if (next < total) {
          busy.index = next++;
          inFlight.set(busy.index, { simulatedNs: 0, events: 0 });
          w.postMessage({ type: "run", index: busy.index } satisfies ToWorker);
        } else busy.index = -1;
      };
      const count = Math.max(1, Math.min(opts.workers, total));
      for (let k = 0; k < count; k++) {
        const w = new Worker(WORKER_URL);
        workers.push(w);
        const busy = { index: -1 };
        w.onmessage = (e: MessageEvent<FromWorker>) => {
          const m = e.data;
          if (m.type === "error") return fail(m.index, m.message, m.input, m.plugin);
          if (m.type === "progress") {
            inFlight.set(m.index, { simulatedNs: m.simulatedNs, events: m.events });
            return report();
          }
          metrics[m.index] = m.metrics;
          inFlight.delete(m.index);
          done++;
          doneNs += runNs[m.index]!;
          doneEvents += m.events;
          report();
          if (done === total) {
            settled = true;
            resolve();
          } else start(w, busy);
        };
        // Uncaught in the worker (outside a run's try) or the worker died: blame its current run.
        w.onerror = (e) => fail(busy.index, e.message || "the worker crashed");
        w.addEventListener("close", () => fail(busy.index, "the worker exited"));
        w.postMessage({ type: "load", spec, runs: total } satisfies ToWorker);
        start(w, busy);
      }
    });
  } finally {
    for (const w of workers) w.terminate();
  }
  return assembleReport(scn, plan, metrics);
}
