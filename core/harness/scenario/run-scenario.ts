import { describeThrown, InputError } from "../../input/errors.ts";
import { parseCostModel } from "../../model/machine/parse.ts";
import type { PathMetrics, Report } from "../report/report.ts";
import { durationNs, type PluginRef, type Scenario } from "./define.ts";
import { expandMatrix, type MatrixPoint } from "./load.ts";
import { type ObserverRef, type PathRun, type PluginTable, refName, startPath } from "./runner.ts";

export interface ScenarioRunOptions {
  /** Observer plugins registered in every run (see RunOptions.observers). */
  observers?: readonly ObserverRef[];
  /** After each (point, path) run: for progress display. */
  progress?: (done: number, total: number, run: PathRun) => void;
}

export interface PacedRunOptions extends ScenarioRunOptions {
  /** Simulated time runs at `pace` times wall time (0.001 = 1 ms simulated per second). Default: as fast as possible. */
  pace?: number;
  /** Stop between slices when aborted (a pacing wait ends at once); the report holds the runs finished so far. */
  signal?: AbortSignal;
  /** Called between slices; a returned promise holds the run until it settles (a consumer catching up). */
  drain?: () => Promise<void> | undefined;
}

/** Every (point, path) run of a scenario, in report order. */
export interface RunPlan {
  points: MatrixPoint[];
  runs: { point: number; scenario: Scenario; path: PluginRef; params: Record<string, unknown> }[];
}

export function planRuns(raw: unknown, scn: Scenario): RunPlan {
  const points = expandMatrix(raw, scn);
  const runs = points.flatMap((p, point) =>
    p.scenario.paths.map((path) => ({ point, scenario: p.scenario, path, params: p.params })),
  );
  return { points, runs };
}

/** A run threw; the message names it (path and matrix parameters), as serial and parallel runs both say. */
export class RunFailedError extends Error {
  constructor(
    readonly index: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "RunFailedError";
  }
}

/** "run 3/6 (path direct, inflight=4)": how an error names its run. */
export function describeRun(plan: RunPlan, index: number): string {
  const r = plan.runs[index]!;
  const params = Object.entries(r.params).map(([k, v]) => `, ${k}=${JSON.stringify(v)}`);
  return `run ${index + 1}/${plan.runs.length} (path ${refName(r.path)}${params.join("")})`;
}

/** Runs `fn` as run `index`; what it throws (bad input aside) becomes a RunFailedError naming the run. */
function asRun<T>(plan: RunPlan, index: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new RunFailedError(index, `${describeRun(plan, index)}: ${describeThrown(e)}`, {
      cause: e,
    });
  }
}

/** Assembles the report from each run's metrics (indexed like `plan.runs`). */
export function assembleReport(
  scn: Scenario,
  plan: RunPlan,
  metrics: readonly (PathMetrics | undefined)[],
): Report {
  return {
    scenario: scn.name,
    seed: scn.seed,
    durationNs: durationNs(scn.duration),
    costModel: parseCostModel(scn.cost) as unknown as Record<string, number>,
    points: plan.points.map((p, i) => {
      const paths: Record<string, PathMetrics> = {};
      plan.runs.forEach((r, k) => {
        const m = metrics[k];
        if (r.point === i && m !== undefined) paths[refName(r.path)] = m;
      });
      return { params: p.params, paths };
    }),
  };
}

/** Runs every matrix point over every path, serially, in order, and builds the report. */
export function runScenario(
  raw: unknown,
  scn: Scenario,
  table: PluginTable,
  opts: ScenarioRunOptions = {},
): Report {
  const plan = planRuns(raw, scn);
  const metrics = plan.runs.map((r, index) => {
    const run = asRun(plan, index, () => {
      const state = startPath(r.scenario, r.path, table, r.params, {
        observers: opts.observers,
        index,
        total: plan.runs.length,
      });
      state.sim.run(state.untilNs);
      return state.finish();
    });
    opts.progress?.(index + 1, plan.runs.length, run);
    return run.metrics;
  });
  return assembleReport(scn, plan, metrics);
}

/** Wall time between yields to the event loop when running as fast as possible (servers stay responsive). */
const YIELD_EVERY_MS = 10;

/** Waits `ms`, or less if `signal` aborts first. */
function sleepUnless(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((res) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      res();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Waits for `p`, or less if `signal` aborts first. */
function settledUnless(p: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return p;
  if (signal.aborted) return Promise.resolve();
  return new Promise((res) => {
    const done = () => {
      signal.removeEventListener("abort", done);
      res();
    };
    signal.addEventListener("abort", done, { once: true });
    p.then(done, done);
  });
}

/**
 * The same runs, advanced in slices with the event loop free in between (for a live server),
 * optionally paced against wall time. Slicing never changes the event order: the result equals
 * runScenario's.
 */
export async function runScenarioAsync(
  raw: unknown,
  scn: Scenario,
  table: PluginTable,
  opts: PacedRunOptions = {},
): Promise<Report> {
  const plan = planRuns(raw, scn);
  const metrics: (PathMetrics | undefined)[] = [];
  for (let index = 0; index < plan.runs.length && !opts.signal?.aborted; index++) {
    const r = plan.runs[index]!;
    const state = asRun(plan, index, () =>
      startPath(r.scenario, r.path, table, r.params, {
        observers: opts.observers,
        index,
        total: plan.runs.length,
      }),
    );
    const sim = state.sim;
    const wall0 = performance.now(); // host clock: pacing and responsiveness only
    let lastYield = wall0;
    const slice = opts.pace
      ? Math.max(1000, Math.round(opts.pace * 20e6))
      : Math.max(1000, Math.round(state.untilNs / 1000));
    while (sim.now < state.untilNs && !opts.signal?.aborted) {
      asRun(plan, index, () => sim.run(Math.min(state.untilNs, sim.now + slice)));
      const now = performance.now(); // host clock
      const held = opts.drain?.();
      if (held !== undefined) {
        await settledUnless(held, opts.signal);
        lastYield = performance.now(); // host clock
      }
      if (opts.pace) {
        const due = wall0 + sim.now / 1e6 / opts.pace;
        await sleepUnless(Math.max(0, due - now), opts.signal);
      } else if (now - lastYield > YIELD_EVERY_MS) {
        await new Promise((res) => setImmediate(res));
        lastYield = performance.now(); // host clock
      }
    }
    if (sim.now < state.untilNs) break;
    const run = asRun(plan, index, () => state.finish());
    metrics.push(run.metrics);
    opts.progress?.(index + 1, plan.runs.length, run);
  }
  return assembleReport(scn, plan, metrics);
}
