/**
 * Distributed sweeps: two `bun run scenario worker` processes over a local Redis against the
 * in-process runner with two worker threads, on the same sweep of ~100 ms points. Prints points
 * per CPU-second (every process's CPU: this one, the workers, Redis) and what the queue adds per
 * point in CPU and wall time. The two reports must be identical (the same runs were done).
 */

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseQueueUrl } from "../../core/harness/queue/redis-url.ts";
import { runScenarioQueued } from "../../core/harness/queue/submit.ts";
import { runScenarioParallel } from "../../core/harness/scenario/parallel.ts";
import { reportJson } from "../../core/index.ts";
import { HAVE_REDIS, REDIS_SKIP_LINE, TestRedis, WorkerProcess } from "../helpers/redis.ts";
import { fmt, header, median, note, row } from "./harness.ts";

const REPO = resolve(import.meta.dir, "../..");
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** CPU seconds a process has used so far (user + system), from /proc. */
function procCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / USER_HZ; // fields 14 and 15 of the whole line
}

const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

interface Sample {
  wallS: number;
  cpuS: number;
  /** CPU of the submitter and Redis alone: the queue's own cost (the workers' CPU is the runs'). */
  queueCpuS?: number;
  json: string;
  /** Kernel events of the whole sweep, as the runs counted them (the last progress report). */
  events: number;
}

export default async function queueBench({ quick }: { quick: boolean }): Promise<void> {
  header("distributed sweep: 2 worker processes over Redis vs 2 in-process worker threads");
  if (!HAVE_REDIS) {
    note("queue bench", REDIS_SKIP_LINE);
    return;
  }
  const points = quick ? 6 : 24;
  const seeds = Array.from({ length: points }, (_, i) => i + 1);
  // One path, 300 us simulated: about 100 ms of CPU per point here (the first row says).
  const spec = {
    target: "default",
    cwd: REPO,
    sets: ['duration="300us"', 'paths=["direct"]', `matrix={"seed":${JSON.stringify(seeds)}}`],
    plugins: [],
  };
  const redis = new TestRedis();
  await redis.start();
  const workers = [new WorkerProcess(redis.url), new WorkerProcess(redis.url)];
  try {
    await Promise.all(workers.map((w) => w.waitFor(/taking points from/)));
    const workerPids = workers.map((w) => w.proc.pid);
    const local = async (): Promise<Sample> => {
      const c0 = selfCpu();
      const t0 = Bun.nanoseconds();
      let events = 0;
      const report = await runScenarioParallel(spec, {
        workers: 2,
        progress: (p) => (events = p.events),
      });
      return {
        wallS: (Bun.nanoseconds() - t0) / 1e9,
        cpuS: selfCpu() - c0,
        json: reportJson(report),
        events,
      };
    };
    const queued = async (): Promise<Sample> => {
      const w0 = workerPids.reduce((a, p) => a + procCpu(p), 0);
      const q0 = selfCpu() + procCpu(redis.pid!);
      const t0 = Bun.nanoseconds();
      let events = 0;
      const { report } = await runScenarioQueued(spec, {
        queue: parseQueueUrl(redis.url),
        progress: (p) => (events = p.events),
      });
      const wallS = (Bun.nanoseconds() - t0) / 1e9;
      const queueCpuS = selfCpu() + procCpu(redis.pid!) - q0;
      const cpuS = queueCpuS + workerPids.reduce((a, p) => a + procCpu(p), 0) - w0;
      return { wallS, cpuS, queueCpuS, json: reportJson(report), events };
    };
    const rounds = quick ? 1 : 3;
    const l: Sample[] = [];
    const q: Sample[] = [];
    for (let i = 0; i < rounds; i++) {
      l.push(await local());
      q.push(await queued());
    }
    for (const s of [...l, ...q]) {
      if (s.json !== l[0]!.json) throw new Error("the queued report differs from the local one");
      if (s.events !== l[0]!.events || s.events === 0)
        throw new Error(`kernel events differ: ${s.events} against ${l[0]!.events}`);
    }
    const lCpu = median(l.map((s) => s.cpuS)) / points;
    const qCpu = median(q.map((s) => s.cpuS)) / points;
    const lWall = median(l.map((s) => s.wallS)) / points;
    const qWall = median(q.map((s) => s.wallS)) / points;
    note(
      "sweep",
      `${points} points (default scenario, direct path, 300 us simulated), ${rounds} round(s) each, interleaved`,
    );
    row("in-process threads: CPU per point", lCpu * 1e3, "ms");
    row("in-process threads: points per CPU-second", 1 / lCpu, "points/s");
    row("in-process threads: wall per point", lWall * 1e3, "ms");
    row("queue, 2 workers: points per CPU-second", 1 / qCpu, "points/s");
    row("queue, 2 workers: wall per point", qWall * 1e3, "ms");
    row(
      "queue: submitter + Redis CPU per point",
      (median(q.map((s) => s.queueCpuS!)) / points) * 1e3,
      "ms",
    );
    row("queue overhead per point, CPU", (qCpu - lCpu) * 1e3, "ms");
    row("queue overhead per point, wall", (qWall - lWall) * 1e3, "ms");
    note(
      "reports",
      `identical in all ${rounds * 2} sweeps (${points} points each, ${fmt(l[0]!.events)} kernel events each)`,
    );
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await redis.close();
  }
}
