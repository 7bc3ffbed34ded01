/**
 * Following a sweep that a queue's workers run (`bun run scenario … --queue redis://… --serve`).
 * The submitter hears each run's progress and result from Redis (checked there: indices in range,
 * plain numbers, metrics as plain data, a worker label) and hands them here: the sweep is one
 * entry of the run list (/state `runs`, GET /runs/:id) with its progress, who ran its finished
 * points and, at the end, its report; each run is on the feed like a run of this process (a `run`
 * notice when its worker first reports, /state `running` with the simulated time it posted, a
 * `result` notice tagged with its run number and plan index). Its events stay on the workers.
 */

import type { PathMetrics, QueuedSweep, RunInfo, SweepFollower } from "../../core/index.ts";
import { redact } from "./http.ts";
import type { LiveObserver, LiveRun } from "./observer.ts";
import type { QueuedPoint, RunRegistry } from "./runs.ts";

/** Points a queued sweep's entry lists (a sweep may have tens of thousands; assumed). */
export const KEEP_POINTS = 256;

export function followQueued(
  feed: LiveObserver,
  registry: RunRegistry,
  sweep: QueuedSweep,
): SweepFollower {
  const total = sweep.runs.length;
  const points: QueuedPoint[] = [];
  const workers: Record<string, number> = Object.create(null);
  const rec = registry.track({
    status: "running",
    request: { scenario: sweep.scenario.name, set: [...sweep.sets] },
    runs: [],
    progress: { done: 0, total },
    workNs: sweep.untilNs.reduce((a, b) => a + b, 0),
    scenario: sweep.scenario,
    queue: { url: sweep.queue, workers, points },
  });
  const live = new Map<number, { run: LiveRun; clock: { now: number } }>();
  const ended = new Set<number>();
  /** The run of `index` on the feed, put there when first heard of. */
  const runOf = (index: number, worker?: string) => {
    let r = live.get(index);
    if (r === undefined) {
      const clock = { now: 0 };
      r = { run: feed.remote(sweep.runs[index]!, clock, worker), clock };
      live.set(index, r);
      rec.runs.push(r.run.run);
      if (rec.runs.length > KEEP_POINTS) rec.runs.shift();
    }
    return r;
  };
  const known = (index: number) => Number.isSafeInteger(index) && index >= 0 && index < total;
  return {
    started(id) {
      rec.queue!.sweep = id;
    },
    progress(index, p) {
      if (!known(index) || ended.has(index)) return;
      const r = runOf(index, p.worker);
      // A point retried on another worker starts again from 0: the clock follows its posts.
      r.clock.now = Math.min(p.simulatedNs, sweep.untilNs[index]!);
      if (p.worker !== undefined) r.run.worker = p.worker;
    },
    result(index, metrics: PathMetrics, by) {
      if (!known(index) || ended.has(index)) return;
      ended.add(index);
      const r = runOf(index, by.worker);
      r.clock.now = sweep.untilNs[index]!;
      r.run.worker = by.worker;
      feed.remoteResult(sweep.runs[index]!, metrics);
      const info = sweep.runs[index]!;
      points.push({
        index,
        path: info.path,
        params: info.params,
        worker: by.worker,
        wallMs: by.wallMs,
        run: r.run.run,
      });
      if (points.length > KEEP_POINTS) points.shift();
      workers[by.worker] = (workers[by.worker] ?? 0) + 1;
      rec.progress = { done: ended.size, total };
    },
    ended(outcome) {
      // Runs still on the feed will never finish here.
      const open: RunInfo[] = [];
      for (const [index] of live) if (!ended.has(index)) open.push(sweep.runs[index]!);
      feed.forget(open);
      if ("report" in outcome) {
        rec.report = outcome.report;
        rec.status = "done";
      } else {
        rec.status = outcome.cancelled ? "stopped" : "failed";
        rec.error = redact(outcome.error);
      }
    },
  };
}
