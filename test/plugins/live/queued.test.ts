/**
 * The live server following a queued sweep (`--serve --queue`), fed as the submitter feeds it:
 * the sweep is one entry of the run list; each run is on the feed with its worker and plan index;
 * what comes from the queue cannot grow the server's state past its budget or reach a prototype.
 * (test/core/harness/queue/queue-sweep.test.ts runs the same over a real Redis and workers.)
 */

import { afterEach, describe, expect, test } from "bun:test";
import {
  applySets,
  loadScenarioFile,
  type PathMetrics,
  parseScenario,
  planRuns,
  type QueuedSweep,
  type Report,
  type RunInfo,
} from "../../../core/index.ts";
import type { LiveServer } from "../../../plugins/live/index.ts";
import { KEEP_POINTS } from "../../../plugins/live/queued.ts";
import { readSse, startLive } from "./helpers.ts";

const servers: LiveServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

/** The default scenario with `seeds` matrix points (three paths each), as run.ts describes it. */
async function sweepOf(seeds: number): Promise<QueuedSweep> {
  const raw = applySets(await loadScenarioFile("default", process.cwd()), [
    'duration="1ms"',
    `matrix={"seed":${JSON.stringify(Array.from({ length: seeds }, (_, i) => i + 1))}}`,
  ]);
  const scn = parseScenario(raw);
  const plan = planRuns(raw, scn);
  const runs = plan.runs.map(
    (r, index): RunInfo => ({
      scenario: scn.name,
      path: String(r.path),
      params: r.params,
      domainNames: ["primary"],
      index,
      total: plan.runs.length,
    }),
  );
  return {
    queue: "redis://127.0.0.1:6379/0",
    scenario: scn,
    sets: ['duration="1ms"'],
    runs,
    untilNs: runs.map(() => 1_000_000),
  };
}

const metricsOf = (i: number) => ({ ios: i, cpu: { primary: 0.25 } }) as unknown as PathMetrics;

async function state(srv: LiveServer) {
  const res = await srv.app.handle(new Request(`${srv.url}state`));
  return (await res.json()) as {
    running: { run: number; index: number; nowNs: number; worker?: string }[];
    results: { run: number; index: number; worker?: string; metrics: unknown }[];
    runs: {
      id: number;
      status: string;
      error?: string;
      runs: number[];
      progress: { done: number; total: number };
      downloads: string[];
      queue: {
        sweep?: string;
        workers: Record<string, number>;
        points: { index: number; worker: string; wallMs: number; run: number }[];
      };
    }[];
  };
}

describe("live follows a queued sweep", () => {
  test("runs appear as workers report, results are tagged, the run list names who ran what", async () => {
    const srv = startLive();
    servers.push(srv);
    const sweep = await sweepOf(2);
    const f = srv.follow!(sweep);
    f.started("abcd-1234");
    f.progress(4, { simulatedNs: 250_000, events: 10, worker: "h1:7" });
    f.progress(1, { simulatedNs: 100_000, events: 3 });
    let s = await state(srv);
    expect(s.running.map((r) => [r.index, r.nowNs, r.worker])).toEqual([
      [4, 250_000, "h1:7"],
      [1, 100_000, undefined],
    ]);
    expect(s.runs).toHaveLength(1);
    expect(s.runs[0]).toMatchObject({
      status: "running",
      progress: { done: 0, total: 6 },
      queue: { sweep: "abcd-1234", points: [], workers: {} },
    });
    // A point handed on to another worker (its first was killed) starts again from 0.
    f.progress(4, { simulatedNs: 50_000, events: 2, worker: "h2:9" });
    s = await state(srv);
    expect(s.running[0]).toMatchObject({ index: 4, nowNs: 50_000, worker: "h2:9" });
    for (const i of [4, 0, 1, 2, 3, 5]) f.result(i, metricsOf(i), { worker: "h2:9", wallMs: 12 });
    // A re-run's second result and indices outside the sweep change nothing.
    f.result(4, metricsOf(99), { worker: "h1:7", wallMs: 1 });
    f.result(6, metricsOf(6), { worker: "h1:7", wallMs: 1 });
    f.result(-1, metricsOf(6), { worker: "h1:7", wallMs: 1 });
    f.progress(7, { simulatedNs: 1, events: 1 });
    f.ended({ report: { points: [] } as unknown as Report });
    s = await state(srv);
    expect(s.running).toEqual([]);
    expect(s.results.map((r) => [r.index, r.worker, (r.metrics as { ios: number }).ios])).toEqual(
      [4, 0, 1, 2, 3, 5].map((i) => [i, "h2:9", i]),
    );
    const rec = s.runs[0]!;
    expect(rec.status).toBe("done");
    expect(rec.progress).toEqual({ done: 6, total: 6 });
    expect(rec.downloads).toContain("report.json");
    expect(rec.runs).toHaveLength(6);
    expect(rec.queue.workers).toEqual({ "h2:9": 6 });
    expect(rec.queue.points.map((p) => p.index)).toEqual([4, 0, 1, 2, 3, 5]);
    // Each point's live run number is the one its feed notices carry.
    for (const p of rec.queue.points)
      expect(s.results.find((r) => r.index === p.index)!.run).toBe(p.run);
    const res = await fetch(`${srv.url}events`, { headers: { "last-event-id": "0" } });
    const frames = await readSse(res, (fs) => fs.filter((x) => x.event === "result").length >= 6);
    const results = frames.filter((x) => x.event === "result").map((x) => x.data as RunInfo);
    expect(results.map((r) => r.index)).toEqual([4, 0, 1, 2, 3, 5]);
    expect(frames.filter((x) => x.event === "run")).toHaveLength(6);
  });

  test("a sweep of many points keeps the run list within its budget", async () => {
    const srv = startLive();
    servers.push(srv);
    const sweep = await sweepOf(200); // 600 runs
    const f = srv.follow!(sweep);
    for (let i = 0; i < sweep.runs.length; i++)
      f.result(i, metricsOf(i), { worker: `h${i % 3}:1`, wallMs: 1 });
    const rec = (await state(srv)).runs[0]!;
    expect(rec.progress).toEqual({ done: 600, total: 600 });
    expect(rec.queue.points).toHaveLength(KEEP_POINTS);
    expect(rec.runs).toHaveLength(KEEP_POINTS);
    expect(rec.queue.points.at(-1)!.index).toBe(599);
    expect(rec.queue.workers).toEqual({ "h0:1": 200, "h1:1": 200, "h2:1": 200 });
  });

  test("a worker label that is a prototype key stays an own entry of the run list", async () => {
    const srv = startLive();
    servers.push(srv);
    const f = srv.follow!(await sweepOf(1));
    f.result(0, metricsOf(0), { worker: "__proto__", wallMs: 1 });
    const rec = (await state(srv)).runs[0]!;
    expect(Object.entries(rec.queue.workers)).toEqual([["__proto__", 1]]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("a cancelled or failed sweep is listed so, and its unfinished runs leave the feed", async () => {
    const srv = startLive();
    servers.push(srv);
    const sweep = await sweepOf(1);
    const f = srv.follow!(sweep);
    f.progress(0, { simulatedNs: 10, events: 1, worker: "h:1" });
    f.ended({ error: "sweep cancelled with 0 of 3 runs done", cancelled: true });
    const g = srv.follow!(sweep);
    g.progress(1, { simulatedNs: 10, events: 1, worker: "h:1" });
    g.ended({ error: "run 2/3 (path direct): boom", cancelled: false });
    const s = await state(srv);
    expect(s.running).toEqual([]);
    expect(s.runs.map((r) => [r.status, r.error, r.downloads])).toEqual([
      ["stopped", "sweep cancelled with 0 of 3 runs done", []],
      ["failed", "run 2/3 (path direct): boom", []],
    ]);
  });
});
