/**
 * Parallel sweeps as the CLI runs them: `bun run scenario policies --duration D --workers N
 * --timing` (15 points) as separate processes, 1 and 2 workers interleaved, each repetition a
 * cold start. Prints the wall-time speedup of 2 workers over 1 and points per CPU-second (every
 * thread of the process: CPU from the child's rusage) for each, the threads that ran the runs
 * (from --timing's closing line: a sweep too short to be worth a worker's start-up stays on one)
 * and the load average at the start of each sweep, since other work on the machine moves every
 * figure. Every report must be identical.
 */

import { loadavg } from "node:os";
import { resolve } from "node:path";
import { fmt, header, median, note, row } from "./harness.ts";

const REPO = resolve(import.meta.dir, "../..");
const POINTS = 15;

interface Sample {
  wallS: number;
  cpuS: number;
  threads: number;
  load: number;
  json: string;
}

async function sweep(duration: string, workers: number): Promise<Sample> {
  const load = loadavg()[0]!;
  const t0 = Bun.nanoseconds(); // host clock: a benchmark
  const p = Bun.spawn(
    [
      "bun",
      "core/cli/main.ts",
      "run",
      "policies",
      ...["--duration", duration, "--workers", String(workers), "--json", "--timing"],
    ],
    { cwd: REPO, stdout: "pipe", stderr: "pipe" },
  );
  const [json, err] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
  ]);
  if ((await p.exited) !== 0) throw new Error(`policies --workers ${workers}: ${err}`);
  const wallS = (Bun.nanoseconds() - t0) / 1e9; // host clock
  const cpu = p.resourceUsage()!.cpuTime;
  const threads = err.match(new RegExp(`^timing all ${POINTS} runs on (\\d+) threads?:`, "m"));
  if (threads === null) throw new Error(`policies --workers ${workers}: no --timing total`);
  return {
    wallS,
    cpuS: Number(cpu.user + cpu.system) / 1e6,
    threads: Number(threads[1]),
    load,
    json,
  };
}

export default async function sweepBench({ quick }: { quick: boolean }): Promise<void> {
  const duration = quick ? "2ms" : "100ms";
  const reps = quick ? 1 : 3;
  header(`parallel sweep: policies --duration ${duration} (${POINTS} points), 1 vs 2 workers`);
  const one: Sample[] = [];
  const two: Sample[] = [];
  for (let i = 0; i < reps; i++) {
    one.push(await sweep(duration, 1));
    two.push(await sweep(duration, 2));
  }
  if (two.some((s) => s.json !== one[0]!.json) || one.some((s) => s.json !== one[0]!.json))
    throw new Error("the sweeps' reports differ");
  const perCpu = (xs: Sample[]) => xs.map((s) => POINTS / s.cpuS);
  const loads = (xs: Sample[]) => xs.map((s) => fmt(s.load)).join(", ");
  note(
    "load average (1 min) at the start of each sweep",
    `1 worker: ${loads(one)}; 2 workers: ${loads(two)} (${navigator.hardwareConcurrency} CPUs)`,
  );
  row(
    "sweep wall time, 1 worker",
    one.map((s) => s.wallS),
    "s",
  );
  row(
    "sweep wall time, 2 workers",
    two.map((s) => s.wallS),
    "s",
  );
  row(
    "threads that ran runs, 2 workers",
    two.map((s) => s.threads),
    "threads",
  );
  const speedup = one.map((s, i) => s.wallS / two[i]!.wallS);
  row("speedup of 2 workers (pairs run back to back)", speedup, "x", quick ? undefined : 1.3);
  // A worker's own start-up (modules, JIT) and the two runners' contention, per pair.
  row(
    "CPU time the second runner adds (pairs)",
    one.map((s, i) => two[i]!.cpuS - s.cpuS),
    "CPU-s",
  );
  const p1 = perCpu(one);
  row("points per CPU-second, 1 worker", p1, "points/s");
  row("points per CPU-second, 2 workers", perCpu(two), "points/s", { min: median(p1) * 0.95 });
}
