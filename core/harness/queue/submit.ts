import { randomUUID } from "node:crypto";
import type { Queue as BullQueue } from "bullmq";
import { describeThrown, InputError, PluginError } from "../../input/errors.ts";
import type { PathMetrics, Report } from "../report/report.ts";
import { durationNs } from "../scenario/define.ts";
import { loadScenarioFile } from "../scenario/load.ts";
import type { SweepProgress } from "../scenario/parallel.ts";
import { assembleReport, describeRun, planRuns, RunFailedError } from "../scenario/run-scenario.ts";
import { refName } from "../scenario/runner.ts";
import { loadSpec, type ScenarioSpec } from "../scenario/spec.ts";
import { loadQueueDeps } from "./deps.ts";
import { catalogue, scenarioFileOf, sweepIdentity } from "./identity.ts";
import {
  ATTEMPTS,
  decodeProgress,
  decodeResult,
  INPUT_PREFIX,
  jobId,
  PLUGIN_PREFIX,
  type PointJob,
  type PointProgress,
  pluginOfReason,
  QUEUE_NAME,
  SWEEP_HEARTBEAT_MS,
  SWEEP_TTL_S,
  sweepKey,
} from "./job.ts";
import { reachRedis, sibling } from "./redis.ts";
import type { QueueAddress } from "./redis-url.ts";

export interface QueuedRunOptions {
  queue: QueueAddress;
  progress?: (p: SweepProgress) => void;
  /** Aborting cancels the sweep: its waiting points are removed, running ones are dropped. */
  signal?: AbortSignal;
  /** Connection losses and recoveries, one line each. */
  log?: (line: string) => void;
  /** The sweep's id, once its key is in Redis and before any job is added. */
  onStart?: (sweep: string) => void;
  /** A running point's progress as its worker posts it (checked: in range, plain numbers). */
  onPointProgress?: (index: number, p: PointProgress) => void;
  /** Each point's result as it arrives (any order, once per point), e.g. for a live feed. */
  onPoint?: (index: number, metrics: PathMetrics, who: PointProvenance) => void;
}

/** Who ran a point and for how long: what `--provenance` writes, apart from the report. */
export interface PointProvenance {
  run: number;
  path: string;
  params: Record<string, unknown>;
  worker: string;
  wallMs: number;
  /** Times BullMQ found the point's worker silent and handed the point on. */
  stalled: number;
}

export interface Provenance {
  sweep: string;
  scenario: string;
  queue: string;
  points: PointProvenance[];
}

/** The sweep ended early: cancelled (Ctrl-C), or Redis lost it or stayed away. */
export class SweepError extends Error {
  constructor(
    message: string,
    readonly cancelled = false,
  ) {
    super(message);
    this.name = "SweepError";
  }
}

const rawOf = (v: unknown) => v as { name?: unknown };

/** A submitter waits this long for a Redis that went away before it gives the sweep up (assumed). */
const REDIS_GIVE_UP_MS = 60_000;

/** Time the end of a sweep may take to tidy Redis (assumed). */
const CLEANUP_MS = 5_000;

/** Jobs added per round trip. */
const ADD_CHUNK = 500;

/**
 * Runs every (point, path) of `spec` as BullMQ jobs on whatever workers serve the queue, and
 * assembles the report from their results in plan order, exactly as a local run does.
 * @throws InputError (before any job is added, or a point's bad input), RunFailedError (a point's
 * plugin threw, or it failed ATTEMPTS times), SweepError (cancelled, or Redis lost the sweep)
 */
export async function runScenarioQueued(
  spec: ScenarioSpec,
  opts: QueuedRunOptions,
): Promise<{ report: Report; provenance: Provenance }> {
  const log = opts.log ?? (() => {});
  const { bullmq, Redis } = await loadQueueDeps();
  const { raw, scn, table } = await loadSpec(spec);
  const plan = planRuns(raw, scn);
  const cat = await catalogue(spec.cwd, spec.plugins);
  const scenarioFile = scenarioFileOf(spec.target, spec.cwd, cat);
  // Workers know a scenario by the name its file defines (a built-in's is its file's name).
  const named = cat.scenarios.has(spec.target)
    ? spec.target
    : String(rawOf(await loadScenarioFile(spec.target, spec.cwd)).name ?? scn.name);
  const identity = await sweepIdentity(named, scenarioFile, table, cat);
  const redis = await reachRedis(Redis, opts.queue, log);

  const sweep = randomUUID().slice(0, 13); // an id, not simulated behaviour
  const total = plan.runs.length;
  const runNs = plan.runs.map((r) => durationNs(r.scenario.duration));
  const totalNs = runNs.reduce((a, b) => a + b, 0);
  const metrics: (PathMetrics | undefined)[] = new Array(total);
  const provenance: (PointProvenance | undefined)[] = new Array(total);
  const stalled = new Array<number>(total).fill(0);
  const inFlight = new Map<number, PointProgress>();
  let done = 0;
  let doneNs = 0;
  let doneEvents = 0;
  const progress = () => {
    if (opts.progress === undefined) return;
    let simulatedNs = doneNs;
    let events = doneEvents;
    for (const p of inFlight.values()) {
      simulatedNs += p.simulatedNs;
      events += p.events;
    }
    opts.progress({ done, total, simulatedNs, totalNs, events });
  };
  const indexOf = (id: string): number | undefined => {
    if (!id.startsWith(`${sweep}.`)) return undefined; // another sweep's job
    const i = Number(id.slice(sweep.length + 1));
    return Number.isSafeInteger(i) && i >= 0 && i < total ? i : undefined;
  };

  // BullMQ leaves connections it is given open on close(); they are closed here.
  const connections = [sibling(redis), sibling(redis)];
  const queue = new bullmq.Queue(QUEUE_NAME, { connection: connections[0]! });
  const events = new bullmq.QueueEvents(QUEUE_NAME, { connection: connections[1]! });
  queue.on("error", () => {}); // connection errors: reported once by the connection itself
  events.on("error", () => {});
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await redis.set(sweepKey(sweep), "running", "EX", SWEEP_TTL_S);
    opts.onStart?.(sweep);
    // Listening before the first job is added, so no result can pass unseen.
    await events.waitUntilReady();
    await new Promise<void>((resolveAll, reject) => {
      let settled = false;
      const finish = (e?: Error) => {
        if (settled) return;
        settled = true;
        if (e) reject(e);
        else resolveAll();
      };
      events.on("completed", ({ jobId: id, returnvalue }) => {
        const i = indexOf(id);
        if (i === undefined || metrics[i] !== undefined) return; // a re-run's second result counts once
        const r = decodeResult(returnvalue);
        if (typeof r === "string")
          return finish(
            new SweepError(`${describeRun(plan, i)}: a worker sent a bad result (${r})`),
          );
        const run = plan.runs[i]!;
        metrics[i] = r.metrics;
        provenance[i] = {
          run: i,
          path: refName(run.path),
          params: run.params,
          worker: r.worker,
          wallMs: r.wallMs,
          stalled: stalled[i]!,
        };
        inFlight.delete(i);
        done++;
        doneNs += runNs[i]!;
        doneEvents += r.events;
        opts.onPoint?.(i, r.metrics, provenance[i]!);
        progress();
        queue.remove(id).catch(() => {}); // the result is kept here; Redis need not hold it
        if (done === total) finish();
      });
      events.on("failed", ({ jobId: id, failedReason }) => {
        const i = indexOf(id);
        if (i === undefined || metrics[i] !== undefined) return;
        if (failedReason.startsWith(INPUT_PREFIX))
          return finish(new InputError(failedReason.slice(INPUT_PREFIX.length)));
        // A plugin's error keeps its class (the CLI's exit status for plugin errors).
        const p = pluginOfReason(failedReason);
        const why = p ? failedReason.slice(PLUGIN_PREFIX.length) : failedReason;
        const cause = p && new PluginError(p.plugin, p.hook, p.message);
        finish(new RunFailedError(i, `${describeRun(plan, i)}: ${why}`, { cause }));
      });
      events.on("progress", ({ jobId: id, data }) => {
        const i = indexOf(id);
        if (i === undefined || metrics[i] !== undefined) return;
        const p = decodeProgress(data);
        if (p === undefined) return;
        const now = { ...p, simulatedNs: Math.min(p.simulatedNs, runNs[i]!) };
        inFlight.set(i, now);
        opts.onPointProgress?.(i, now);
        progress();
      });
      events.on("stalled", ({ jobId: id }) => {
        const i = indexOf(id);
        if (i !== undefined) stalled[i]!++;
      });
      let awayMs = 0;
      heartbeat = setInterval(() => {
        awayMs = redis.status === "ready" ? 0 : awayMs + SWEEP_HEARTBEAT_MS;
        if (awayMs >= REDIS_GIVE_UP_MS)
          return finish(
            new SweepError(
              `Redis at ${opts.queue.url} unreachable for ${REDIS_GIVE_UP_MS / 1000} s with ${done} of ${total} runs done; giving up`,
            ),
          );
        redis.expire(sweepKey(sweep), SWEEP_TTL_S).then(
          (kept) => {
            if (kept === 0)
              finish(
                new SweepError(
                  `Redis at ${opts.queue.url} lost the sweep (restarted without persistence?) with ${done} of ${total} runs done; run it again`,
                ),
              );
          },
          () => {}, // Redis away: the connection retries and says so
        );
      }, SWEEP_HEARTBEAT_MS);
      onAbort = () =>
        finish(new SweepError(`sweep cancelled with ${done} of ${total} runs done`, true));
      opts.signal?.addEventListener("abort", onAbort);
      if (opts.signal?.aborted) return onAbort();
      addJobs(queue, plan.runs.length, (index) => ({
        sweep,
        index,
        runs: total,
        scenario: identity.scenario,
        sets: spec.sets,
        plugins: identity.plugins,
      })).catch((e) => finish(new SweepError(`cannot add the sweep's jobs: ${describeThrown(e)}`)));
    });
  } finally {
    clearInterval(heartbeat);
    if (onAbort) opts.signal?.removeEventListener("abort", onAbort);
    // Whatever ended the sweep, its remaining points go: workers drop jobs of a sweep whose key
    // is gone, and waiting ones are removed here (a running one cannot be, and is dropped).
    // With Redis away this would wait forever: it gets CLEANUP_MS, then the connections close.
    await Promise.race([
      (async () => {
        await redis.del(sweepKey(sweep));
        await removeJobs(queue, sweep, total, metrics);
        await events.close();
        await queue.close();
      })().catch(() => {}),
      Bun.sleep(CLEANUP_MS),
    ]);
    for (const c of [redis, ...connections]) c.disconnect();
  }
  return {
    report: assembleReport(scn, plan, metrics),
    provenance: {
      sweep,
      scenario: scn.name,
      queue: opts.queue.url,
      points: provenance.filter((p) => p !== undefined),
    },
  };
}

async function addJobs(queue: BullQueue, total: number, data: (index: number) => PointJob) {
  for (let from = 0; from < total; from += ADD_CHUNK) {
    const jobs = [];
    for (let i = from; i < Math.min(total, from + ADD_CHUNK); i++) {
      const d = data(i);
      jobs.push({
        name: "point",
        data: d,
        opts: {
          jobId: jobId(d.sweep, i),
          attempts: ATTEMPTS,
          // Backstops in case the submitter dies before removing them itself.
          removeOnComplete: { age: 3600 },
          removeOnFail: { age: 24 * 3600 },
        },
      });
    }
    await queue.addBulk(jobs);
  }
}

/** Removes the sweep's jobs that are still in Redis (results already taken, or not wanted). */
async function removeJobs(
  queue: BullQueue,
  sweep: string,
  total: number,
  metrics: readonly (PathMetrics | undefined)[],
): Promise<void> {
  const ids: string[] = [];
  for (let i = 0; i < total; i++) if (metrics[i] === undefined) ids.push(jobId(sweep, i));
  for (let from = 0; from < ids.length; from += ADD_CHUNK)
    await Promise.all(
      ids.slice(from, from + ADD_CHUNK).map((id) => queue.remove(id).catch(() => 0)),
    );
}
