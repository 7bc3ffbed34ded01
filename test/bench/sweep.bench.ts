/**
 * Parallel sweeps as the CLI runs them: `bun run scenario policies --duration D --workers N`
 * (15 points) as separate processes, 1 and 2 workers interleaved, each repetition a cold start.
 * Prints the wall-time speedup of 2 workers over 1 and points per CPU-second (every thread of
 * the process: CPU from the child's rusage) for each, beside the load average, since other
 * work on the machine moves both. The two reports must be identical.
 */

import { loadavg } from "node:os";
import { resolve } from "node:path";
import { fmt, header, median, note, row } from "./harness.ts";

const REPO = resolve(import.meta.dir, "../..");
const POINTS = 15;

interface Sample {
  wallS: number;
  cpuS: number;
  json: string;
}

async function sweep(duration: string, workers: number): Promise<Sample> {
  const t0 = Bun.nanoseconds();
  const p = Bun.spawn(
    [
      "bun",
      "core/cli/main.ts",
      "run",
      "policies",
      "--duration",
      duration,
      "--workers",
      String(workers),
      "--json",
    ],
    { cwd: REPO, stdout: "pipe", stderr: "pipe" },
  );
  const json = await new Response(p.stdout).text();
  if ((await p.exited) !== 0)
    throw new Error(`policies --workers ${workers}: ${await new Response(p.stderr).text()}`);
  const wallS = (Bun.nanoseconds() - t0) / 1e9;
  const cpu = p.resourceUsage()!.cpuTime;
  return { wallS, cpuS: Number(cpu.user + cpu.system) / 1e6, json };
}

export default async function sweepBench({ quick }: { quick: boolean }): Promise<void> {
  const duration = quick ? "2ms" : "100ms";
  const reps = quick ? 1 : 3;
  header(`parallel sweep: policies --duration ${duration} (${POINTS} points), 1 vs 2 workers`);
  const load0 = loadavg()[0]!;
  const one: Sample[] = [];
  const two: Sample[] = [];
  for (let i = 0; i < reps; i++) {
    one.push(await sweep(duration, 1));
    two.push(await sweep(duration, 2));
  }
  if (two.some((s) => s.json !== one[0]!.json) || one.some((s) => s.json !== one[0]!.json))
    throw new Error("the sweeps' reports differ");
  const perCpu = (xs: Sample[]) => xs.map((s) => POINTS / s.cpuS);
  note(
    "load average (1 min) before / after",
    `${fmt(load0)} / ${fmt(loadavg()[0]!)} on ${navigator.hardwareConcurrency} CPUs`,
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
  const speedup = one.map((s, i) => s.wallS / two[i]!.wallS);
  row("speedup of 2 workers (pairs run back to back)", speedup, "x", quick ? undefined : 1.3);
  const p1 = perCpu(one);
  row("points per CPU-second, 1 worker", p1, "points/s");
  row("points per CPU-second, 2 workers", perCpu(two), "points/s", { min: median(p1) * 0.95 });
}
