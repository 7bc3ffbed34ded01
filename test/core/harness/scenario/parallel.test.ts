import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { Progress } from "../../../../core/cli/progress.ts";
import { TimingTotals } from "../../../../core/cli/timing.ts";
import { reportJson } from "../../../../core/harness/report/report.ts";
import { EXIT_PLUGIN_ERRORS } from "../../../../core/harness/scenario/failures.ts";
import {
  keptWorkers,
  type RunTiming,
  runScenarioParallel,
  runsAt,
  type SweepProgress,
  startedWorkers,
} from "../../../../core/harness/scenario/parallel.ts";
import {
  planRuns,
  RunFailedError,
  runScenario,
} from "../../../../core/harness/scenario/run-scenario.ts";
import { startPath } from "../../../../core/harness/scenario/runner.ts";
import { loadSpec, type ScenarioSpec } from "../../../../core/harness/scenario/spec.ts";
import type { FromWorker, Probed, ToWorker } from "../../../../core/harness/scenario/worker.ts";
import { cli } from "../../../helpers/cli.ts";

const REPO = resolve(import.meta.dir, "../../../..");
/** 3 x 2 matrix points, one path. */
const SWEEP: ScenarioSpec = {
  target: "test/fixtures/scenarios/sweep.ts",
  cwd: REPO,
  sets: ["seed=11", 'duration="300us"'],
  plugins: [],
};
/** 12 runs of the same sweep, more than the kept workers can take. */
const LONGER: ScenarioSpec = {
  ...SWEEP,
  sets: [
    "seed=11",
    'duration="300us"',
    'matrix={"workloads.0.plugin.1.inflight":[1,2,3,4,5,6,7,8,9,10,11,12]}',
  ],
};
const FAILING: ScenarioSpec = {
  target: "test/fixtures/scenarios/failing.ts",
  cwd: REPO,
  sets: [],
  plugins: ["test/fixtures/scenarios/fail-workload.ts"],
};

async function serial(spec: ScenarioSpec) {
  const { raw, scn, table } = await loadSpec(spec);
  return runScenario(raw, scn, table);
}

describe("parallel sweeps", () => {
  test("2 workers give the serial report byte for byte, points in plan order", async () => {
    const one = await serial(SWEEP);
    const two = await runScenarioParallel(SWEEP, { workers: 2, workerWorthMs: 0 });
    expect(reportJson(two)).toBe(reportJson(one));
    expect(two.points.map((p) => Object.values(p.params))).toEqual([
      [1, "strict"],
      [1, "deferred"],
      [4, "strict"],
      [4, "deferred"],
      [16, "strict"],
      [16, "deferred"],
    ]);
    // More workers than runs, too.
    expect(reportJson(await runScenarioParallel(SWEEP, { workers: 8, workerWorthMs: 0 }))).toBe(
      reportJson(one),
    );
  });

  test("a second sweep in the process runs on the kept workers, with the same report", async () => {
    const first = reportJson(await runScenarioParallel(SWEEP, { workers: 3 }));
    const kept = keptWorkers();
    expect(kept).toBeGreaterThanOrEqual(2); // this thread is the third runner
    const started = startedWorkers();
    expect(reportJson(await runScenarioParallel(SWEEP, { workers: 3 }))).toBe(first);
    expect(keptWorkers()).toBe(kept);
    expect(startedWorkers()).toBe(started); // kept workers join at once: none started
  });

  test("a new worker starts only when this thread estimates the runs left are worth it", async () => {
    const one = reportJson(await serial(LONGER));
    // Every kept worker joins, and one more is wanted.
    const workers = keptWorkers() + 2;
    const started = startedWorkers();
    // Weighed against an hour of work: no worker is started.
    const hour = 3_600_000;
    expect(reportJson(await runScenarioParallel(LONGER, { workers, workerWorthMs: hour }))).toBe(
      one,
    );
    expect(startedWorkers()).toBe(started);
    // The same sweep when any work at all is worth a worker: one starts, mid-sweep.
    const seen: number[] = [];
    const two = await runScenarioParallel(LONGER, {
      workers,
      workerWorthMs: 1,
      progress: () => seen.push(startedWorkers()),
    });
    expect(reportJson(two)).toBe(one);
    expect(startedWorkers()).toBe(started + 1);
    expect(seen[0]).toBe(started); // this thread ran a run before it weighed
  });

  test("a probe counts each run's kernel events over its first share, as the run itself does", async () => {
    const { raw, scn, table } = await loadSpec(LONGER);
    const at = runsAt(planRuns(raw, scn));
    const runs = [11, 3, 7].map((index) => ({ index, at: at[index]!, untilNs: 100_000 }));
    const w = new Worker(new URL("../../../../core/harness/scenario/worker.ts", import.meta.url));
    const ask = (budgetNs: number) =>
      new Promise<Probed>((answer) => {
        w.onmessage = (e: MessageEvent<Probed>) => answer(e.data);
        w.postMessage({ type: "probe", runs, budgetNs } satisfies ToWorker);
      });
    try {
      w.postMessage({ type: "load", spec: LONGER } satisfies ToWorker);
      const all = await ask(60e9);
      expect(all.runs).toEqual([11, 3, 7]);
      const plan = planRuns(raw, scn);
      const here = runs.map(({ index }) => {
        const r = plan.runs[index]!;
        const state = startPath(r.scenario, r.path, table, r.params);
        state.sim.run(100_000);
        return state.sim.eventsProcessed;
      });
      expect(all.events).toEqual(here);
      expect(here[0]).toBeGreaterThan(here[1]!); // 12 in flight against 4
      // Out of CPU budget after the first run: the rest are not probed.
      expect(await ask(0)).toEqual({ type: "probed", runs: [11], events: [here[0]!] });
      // The next run's result counts the probes' CPU time apart from the run's own.
      const result = await new Promise<FromWorker>((answer) => {
        w.onmessage = (e: MessageEvent<FromWorker>) => e.data.type !== "progress" && answer(e.data);
        w.postMessage({ type: "run", index: 3, total: at.length, at: at[3] } satisfies ToWorker);
      });
      if (result.type !== "result") throw new Error(`expected a result, got ${result.type}`);
      expect(result.threadProbeNs).toBeGreaterThan(0);
      expect(result.threadStartNs + result.threadProbeNs + result.cpuNs).toBeLessThanOrEqual(
        result.threadCpuNs,
      );
    } finally {
      w.terminate();
    }
  });

  test("the CLI prints the same JSON with --workers 1 and --workers 2", async () => {
    const args = [SWEEP.target, "--seed", "5", "--duration", "200us", "--json"];
    const a = await cli(...args, "--workers", "1");
    const b = await cli(...args, "--workers", "2");
    expect(a.code).toBe(0);
    expect(b.err).toBe("");
    expect(b.out).toBe(a.out);
    expect(JSON.parse(b.out).points).toHaveLength(6);
  });

  test("progress counts every run and ends at the total simulated time", async () => {
    const seen: SweepProgress[] = [];
    await runScenarioParallel(SWEEP, {
      workers: 2,
      workerWorthMs: 0,
      progress: (p) => seen.push({ ...p }),
    });
    const last = seen[seen.length - 1]!;
    expect(last).toMatchObject({ done: 6, total: 6, simulatedNs: 6 * 300_000 });
    expect(last.totalNs).toBe(6 * 300_000);
    expect(last.events).toBeGreaterThan(0);
    for (let i = 1; i < seen.length; i++)
      expect(seen[i]!.done).toBeGreaterThanOrEqual(seen[i - 1]!.done);

    let line = "";
    const bar = new Progress({ write: (s: string) => (line += s) });
    for (const p of seen) bar.update(p);
    bar.done();
    expect(line).toContain("6/6 runs, 1.8/1.8 ms simulated");
    expect(line.endsWith("\n")).toBe(true);
  });

  test("timed reports every run once, with the thread that ran it; --timing's closing line counts them", async () => {
    const seen: RunTiming[] = [];
    await runScenarioParallel(SWEEP, { workers: 2, workerWorthMs: 0, timed: (t) => seen.push(t) });
    expect(seen.map((t) => t.index).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(new Set(seen.map((t) => t.thread))).toEqual(new Set([0, 1]));
    const totals = new TimingTotals();
    for (const t of seen) {
      expect(t).toMatchObject({ total: 6, path: "direct", simNs: 300_000 });
      expect(t.wallNs).toBeGreaterThan(0);
      // getrusage's thread time never goes back, so it can stand still over one short run: 0 is
      // a reading (the runs together are checked below).
      expect(t.cpuNs).toBeGreaterThanOrEqual(0);
      // A worker's own CPU time, start-up included, is more than the run's.
      if (t.thread > 0) expect(t.threadCpuNs!).toBeGreaterThan(t.cpuNs);
      // Its start-up (modules, scenario) is counted apart; a worker that joins at once probes nothing.
      if (t.thread > 0) expect(t.threadStartNs!).toBeGreaterThan(0);
      if (t.thread > 0) expect(t.threadStartNs! + t.cpuNs).toBeLessThanOrEqual(t.threadCpuNs!);
      if (t.thread > 0) expect(t.threadProbeNs).toBe(0);
      expect(t.events).toBeGreaterThan(t.ios);
      totals.add(t);
    }
    expect(seen.reduce((n, t) => n + t.cpuNs, 0)).toBeGreaterThan(0);
    expect(totals.line(1e9)).toStartWith("timing all 6 runs on 2 threads: wall 1.000 s");
    const runs = [0, 1].map((n) => seen.filter((t) => t.thread === n).length);
    const line = totals.cpuLine(120e9, 1e9);
    expect(line).toStartWith("timing cpu: process 120.000 s, 0.0500 runs per CPU-s; ");
    expect(line).toContain(`; thread 0 ${runs[0]} runs `);
    expect(line).toContain(" (all 1.000 s); thread 1 ");
    expect(line).toMatch(
      /; thread 1 \d+ runs [\d.]+ s \(all [\d.]+ s: start-up 0\.\d{3} s, probe 0\.000 s\); /,
    );
    expect(line).toMatch(/; other threads 11\d\.\d{3} s\n$/);
  });

  test("a run that throws in a worker fails the sweep, naming the run", async () => {
    const err = await runScenarioParallel(FAILING, { workers: 2, workerWorthMs: 0 }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(RunFailedError);
    expect(err.index).toBe(1);
    expect(err.message).toBe(
      "run 2/3 (path direct, workloads.0.plugin.1.failAtUs=100): [plugin fixture-fail] start: fixture failure at 100 us",
    );

    const r = await cli(FAILING.target, "--plugin", FAILING.plugins[0]!, "--workers", "2");
    expect(r.code).toBe(EXIT_PLUGIN_ERRORS);
    expect(r.err).toBe(`run failed: ${err.message}\n`);
  });

  test("bad input found in a worker exits 2 with the serial run's message", async () => {
    const bad = ["--set", 'workloads.0.plugin=["stream",{"op":"fly"}]', "--duration", "50us"];
    const one = await cli(SWEEP.target, ...bad, "--workers", "1");
    const two = await cli(SWEEP.target, ...bad, "--workers", "2");
    expect(one.code).toBe(2);
    expect(one.err).toMatch(/plugin "stream" option \/op: /);
    expect(two).toEqual(one);
  });

  test("--workers takes a whole number; --trace runs serially and says so", async () => {
    for (const w of ["0", "1.5", "many"]) {
      const r = await cli("--workers", w);
      expect(r.code).toBe(2);
      expect(r.err).toContain("--workers");
    }
    const file = resolve(REPO, "out/parallel-test.trace.json");
    const r = await cli(SWEEP.target, "--duration", "200us", "--trace", file, "--workers", "2");
    expect(r.code).toBe(0);
    expect(r.err).toBe("note: --trace records in this process, so the runs go serially\n");
    expect(JSON.parse(await Bun.file(file).text()).otherData.runs).toBe(6);
  });
});
