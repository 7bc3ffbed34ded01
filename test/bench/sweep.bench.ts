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

import { readdirSync, readFileSync } from "node:fs";
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
  /**
   * Per thread that ran runs: runs, their CPU-s, the thread's own CPU-s in all, and (a worker)
   * how much of that went to its start-up and its probe.
   */
  perThread: { runs: number; runsS: number; allS: number; startS: number; probeS: number }[];
  /** CPU-s of the process's other threads (Bun's JIT compilers and GC). */
  otherS: number;
  /** CPU-s by kind of thread, from /proc (Linux; empty elsewhere). */
  kinds: Map<Kind, number>;
  /** Per run (plan index): its CPU-s, the thread that ran it and when it finished (0, 1, ...). */
  runs: RunCpu[];
}

/** Threads by their Linux name: the JS threads, Bun's JIT compilers, its GC, and the rest. */
type Kind = "js" | "jit" | "gc" | "other";
const kindOf = (name: string): Kind =>
  name === "bun" || name === "Worker"
    ? "js"
    : name.startsWith("JITWorker")
      ? "jit"
      : name.startsWith("HeapHelper") || name.includes("ollector")
        ? "gc"
        : "other";

/** Clock ticks per second of /proc's stat times (USER_HZ: 100 on Linux). */
const USER_HZ = 100;
/** How often the child's threads are sampled: a thread that ends loses at most this much. */
const SAMPLE_MS = 50;

/**
 * Samples each thread's CPU time of process `pid` from /proc until stopped: a JIT or GC thread
 * may end before the process does, so its last sample stands for it.
 */
function threadSampler(pid: number): () => Map<Kind, number> {
  const last = new Map<string, { kind: Kind; s: number }>();
  const sample = () => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      return; // not Linux, or the process has ended
    }
    for (const t of tasks) {
      try {
        const st = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
        const name = st.slice(st.indexOf("(") + 1, st.lastIndexOf(")"));
        const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
        // Fields 14 and 15 of stat (utime, stime), counted after the name's closing bracket.
        last.set(t, { kind: kindOf(name), s: (Number(f[11]) + Number(f[12])) / USER_HZ });
      } catch {
        // the thread ended between the listing and the read
      }
    }
  };
  sample();
  const timer = setInterval(sample, SAMPLE_MS);
  return () => {
    clearInterval(timer);
    const kinds = new Map<Kind, number>();
    for (const { kind, s } of last.values()) kinds.set(kind, (kinds.get(kind) ?? 0) + s);
    return kinds;
  };
}

const THREAD =
  /thread (\d+) (\d+) runs (\d+\.\d+) s \(all (\d+\.\d+) s(?:: start-up (\d+\.\d+) s, probe (\d+\.\d+) s)?\)/g;

const RUN = /^timing (\d+)\/\d+ .*?: wall [\d.]+ s, cpu (\d+\.\d+) s(?: \(thread (\d+)\))?,/gm;

interface RunCpu {
  cpuS: number;
  thread: number;
  seq: number;
}

/** Each run's CPU time and thread, by plan index, from --timing's run lines (in finish order). */
function runLines(err: string): RunCpu[] {
  const out: RunCpu[] = [];
  let seq = 0;
  for (const m of err.matchAll(RUN))
    out[Number(m[1]) - 1] = { cpuS: Number(m[2]), thread: Number(m[3] ?? 0), seq: seq++ };
  if (out.length !== POINTS || out.includes(undefined as never))
    throw new Error("--timing printed no line for some run");
  return out;
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
  const stopSampling = threadSampler(p.pid);
  const [json, err] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
  ]);
  if ((await p.exited) !== 0) throw new Error(`policies --workers ${workers}: ${err}`);
  const wallS = (Bun.nanoseconds() - t0) / 1e9; // host clock
  const kinds = stopSampling();
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
    startS: Number(m[5] ?? 0),
    probeS: Number(m[6] ?? 0),
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
    kinds,
    runs: runLines(err),
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
  const worker = (f: (t: Sample["perThread"][number]) => number) =>
    two.flatMap((s) => (s.perThread[1] ? [f(s.perThread[1])] : []));
  const parts: [string, (t: Sample["perThread"][number]) => number][] = [
    ["worker's start-up (modules, scenario), thread 1", (t) => t.startS],
    ["worker's probe of the runs left, thread 1", (t) => t.probeS],
    [
      "worker's CPU outside runs, start-up and probe, thread 1",
      (t) => t.allS - t.runsS - t.startS - t.probeS,
    ],
  ];
  // A sweep too short for the worker to take a point (--quick) has no thread 1 to split.
  if (worker((t) => t.allS).length === 0)
    note("worker's CPU, thread 1", "none: the worker ran no point in any sweep");
  else for (const [label, f] of parts) row(label, worker(f), "CPU-s");
  // By kind of thread (/proc): the second VM's JIT shows in the compilers' CPU time.
  for (const [kind, what] of [
    ["js", "the JS threads (runs, start-up, probe, messages)"],
    ["jit", "Bun's JIT compiler threads"],
    ["gc", "Bun's GC helper threads"],
    ["other", "Bun's other threads"],
  ] as const)
    for (const [xs, n] of [
      [one, 1],
      [two, 2],
    ] as const)
      if (xs.every((s) => s.kinds.size > 0))
        row(
          `CPU time of ${what}, ${n} worker${n > 1 ? "s" : ""}`,
          xs.map((s) => s.kinds.get(kind) ?? 0),
          "CPU-s",
        );
  // A thread's runs against the same runs in the paired 1-worker sweep: a cold VM's runs (the
  // worker's first above all) cost more CPU until its JIT has compiled the model.
  for (const n of [0, 1]) {
    const ratio = (first: boolean) =>
      two.flatMap((s, i) => {
        const mine = s.runs
          .flatMap((r, index) => (r.thread === n ? [index] : []))
          .sort((a, b) => s.runs[a]!.seq - s.runs[b]!.seq);
        const sel = first ? mine.slice(0, 1) : mine;
        const a = sel.reduce((t, index) => t + s.runs[index]!.cpuS, 0);
        const b = sel.reduce((t, index) => t + one[i]!.runs[index]!.cpuS, 0);
        return b > 0 ? [a / b] : [];
      });
    if (ratio(false).length === 0) continue; // that thread ran no point (a --quick sweep)
    row(`runs' CPU on thread ${n} over the same runs with 1 worker`, ratio(false), "x");
    if (n > 0)
      row(`first run's CPU on thread ${n} over the same run with 1 worker`, ratio(true), "x");
  }
  note("kernel events per sweep (every sweep)", one[0]!.events.toLocaleString("en-US"));
}
