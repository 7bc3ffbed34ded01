/**
 * Parallel sweeps as the CLI runs them: `bun run scenario policies --duration D --workers N
 * --timing` (15 points) as separate processes, 1 and 2 workers interleaved, each repetition a
 * cold start. Prints the wall-time speedup of 2 workers over 1 and points per CPU-second (every
 * thread of the process: CPU from the child's rusage) for each, the threads that ran the runs
 * (from --timing's closing line: a sweep too short to be worth a worker's start-up stays on one)
 * and the load average at the start of each sweep, since other work on the machine moves every
 * figure. From --timing's CPU line, where the CPU time went: the runs' own (per thread, points
 * per CPU-second of each thread) and Bun's threads (JIT compilers, GC), which load disturbs less
 * than wall time. Every report and every sweep's kernel event count must be identical.
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
  events: number;
  /** Per thread that ran runs: runs, their CPU-s, the thread's own CPU-s in all. */
  perThread: { runs: number; runsS: number; allS: number }[];
  /** CPU-s of the process's other threads (Bun's JIT compilers and GC). */
  otherS: number;
}

const THREAD = /thread (\d+) (\d+) runs (\d+\.\d+) s \(all (\d+\.\d+) s\)/g;

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
  const events = err.match(/^timing all .*?, ([\d,]+) events,/m);
  const cpuLine = err.match(/^timing cpu: .*; other threads (\d+\.\d+) s$/m);
  if (threads === null || events === null || cpuLine === null)
    throw new Error(`policies --workers ${workers}: no --timing total`);
  const perThread = [...cpuLine[0].matchAll(THREAD)].map((m) => ({
    runs: Number(m[2]),
    runsS: Number(m[3]),
    allS: Number(m[4]),
  }));
  return {
    wallS,
    cpuS: Number(cpu.user + cpu.system) / 1e6,
    threads: Number(threads[1]),
    load,
    json,
    events: Number(events[1]!.replaceAll(",", "")),
    perThread,
    otherS: Number(cpuLine[1]),
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
  const all = [...one, ...two];
  if (all.some((s) => s.json !== one[0]!.json)) throw new Error("the sweeps' reports differ");
  if (all.some((s) => s.events !== one[0]!.events)) throw new Error("the sweeps' events differ");
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
  // Where the CPU time went (--timing's CPU line).
  const runsS = (s: Sample) => s.perThread.reduce((a, t) => a + t.runsS, 0);
  row("CPU time in the runs, 1 worker", one.map(runsS), "CPU-s");
  row("CPU time in the runs, 2 workers (both threads)", two.map(runsS), "CPU-s");
  row(
    "CPU time of Bun's own threads (JIT, GC), 1 worker",
    one.map((s) => s.otherS),
    "CPU-s",
  );
  row(
    "CPU time of Bun's own threads (JIT, GC), 2 workers",
    two.map((s) => s.otherS),
    "CPU-s",
  );
  const ofThread = (xs: Sample[], n: number) =>
    xs.flatMap((s) => {
      const t = s.perThread[n];
      return t && t.allS > 0 ? [t.runs / t.allS] : [];
    });
  row("points per CPU-second of the thread, 1 worker", ofThread(one, 0), "points/s");
  for (const n of [0, 1]) {
    const xs = ofThread(two, n);
    if (xs.length > 0)
      row(`points per CPU-second of the thread, 2 workers: thread ${n}`, xs, "points/s");
  }
  note("kernel events per sweep (every sweep)", one[0]!.events.toLocaleString("en-US"));
}
