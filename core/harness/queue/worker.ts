import { hostname } from "node:os";
import { describeThrown } from "../../input/errors.ts";
import type { ScenarioSpec } from "../scenario/spec.ts";
import { loadQueueDeps } from "./deps.ts";
import { catalogue, matchJob } from "./identity.ts";
import {
  decodeJob,
  LOCK_MS,
  MAX_STALLED,
  type PointResult,
  QUEUE_NAME,
  STALLED_CHECK_MS,
  sweepKey,
} from "./job.ts";
import { reachRedis, sibling } from "./redis.ts";
import type { QueueAddress } from "./redis-url.ts";
import { finalReason, ThreadPool } from "./threads.ts";

export interface QueueWorkerOptions {
  queue: QueueAddress;
  /** Points run at once (one thread each). */
  concurrency: number;
  /** This machine's `--plugin` files and `--scenario-dir`s, the only files besides the built-ins it runs. */
  plugins: string[];
  scenarioDirs: string[];
  cwd: string;
  /** One line per point and per state change. */
  log: (line: string) => void;
  /** Resolves when the worker should stop (it finishes its running points first). */
  stop: Promise<void>;
}

/**
 * `bun run scenario worker --queue redis://…`: takes points of any sweep from the queue and runs
 * them, until `stop`. A point whose scenario or plugins this machine lacks (or has in another
 * version: the hashes cover each file's local imports) fails at once with the reason, as does a
 * point whose run throws (bad input, a plugin, a bug: the same on every try); a point whose
 * thread died is retried (ATTEMPTS in all), and one whose worker dies is handed to another.
 */
export async function runQueueWorker(opts: QueueWorkerOptions): Promise<void> {
  const { bullmq, Redis } = await loadQueueDeps();
  const cat = await catalogue(opts.cwd, opts.plugins, opts.scenarioDirs);
  const self = `${hostname()}:${process.pid}`;
  const redis = await reachRedis(Redis, opts.queue, opts.log);
  const pool = new ThreadPool(opts.concurrency);
  const connection = sibling(redis); // BullMQ leaves a given connection open on close()
  const worker = new bullmq.Worker(
    QUEUE_NAME,
    async (job) => {
      const j = decodeJob(job.data);
      if (typeof j === "string") throw new bullmq.UnrecoverableError(j);
      if ((await redis.exists(sweepKey(j.sweep))) === 0) {
        // The submitter cancelled the sweep or is gone: nobody waits for this point.
        await job.remove().catch(() => {});
        throw new bullmq.UnrecoverableError("the sweep was cancelled");
      }
      const mine = await matchJob(j, cat, self);
      if ("why" in mine) throw new bullmq.UnrecoverableError(mine.why);
      const spec: ScenarioSpec = {
        target: mine.file, // this machine's own file, never a path from the queue
        cwd: opts.cwd,
        sets: j.sets,
        plugins: opts.plugins,
        namesOnly: true,
      };
      const name = `point ${j.index + 1}/${j.runs} of ${j.scenario.name} (sweep ${j.sweep})`;
      opts.log(`${name}: started`);
      const t0 = performance.now(); // host clock: provenance only
      try {
        const r = await pool.run(spec, j.runs, j.index, (p) => {
          job.updateProgress({ ...p, worker: self }).catch(() => {}); // progress is best effort
        });
        const wallMs = Math.round(performance.now() - t0); // host clock
        opts.log(`${name}: done in ${wallMs} ms`);
        return { ...r, worker: self, wallMs } satisfies PointResult;
      } catch (e) {
        opts.log(`${name}: failed: ${describeThrown(e)}`);
        // The submitter reports bad input and a plugin's error as a local run would.
        const why = finalReason(e);
        if (why !== undefined) throw new bullmq.UnrecoverableError(why);
        throw e;
      }
    },
    {
      connection,
      concurrency: opts.concurrency,
      lockDuration: LOCK_MS,
      stalledInterval: STALLED_CHECK_MS,
      maxStalledCount: MAX_STALLED,
      name: self,
    },
  );
  // A lost connection is reported once by the connection; other errors each time.
  worker.on("error", (e) => {
    if (redis.status === "ready") opts.log(`queue error: ${describeThrown(e)}`);
  });
  await worker.waitUntilReady();
  opts.log(
    `worker ${self}: taking points from ${opts.queue.url} (concurrency ${opts.concurrency})`,
  );
  await opts.stop;
  opts.log(`worker ${self}: stopping after the points it is running`);
  await worker.close();
  pool.close();
  redis.disconnect();
  connection.disconnect();
}
