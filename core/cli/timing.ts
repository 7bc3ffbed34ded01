import { type RunTiming, threadCpuNs } from "../harness/scenario/parallel.ts";

export { threadCpuNs };

/** The process's CPU time (every thread: Bun's GC and JIT threads too) and this thread's, ns. */
export function cpuNow(): { process: number; thread: number } {
  const u = process.cpuUsage(); // host clock: --timing only
  return { process: (u.user + u.system) * 1000, thread: threadCpuNs() };
}

const seconds = (ns: number) => `${(ns / 1e9).toFixed(3)} s`;

/** Groups digits: 1234567 -> "1,234,567". */
const grouped = (n: number) => Math.round(n).toLocaleString("en-US");

/** Simulated time with the unit that keeps it readable. */
function simTime(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toPrecision(4)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toPrecision(4)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toPrecision(4)} us`;
  return `${ns} ns`;
}

/** The headline rates over `wallNs`: simulated s and I/Os per wall s. */
function rates(simNs: number, ios: number, wallNs: number): string {
  const wallS = wallNs / 1e9;
  const perWall = wallS > 0 ? simNs / 1e9 / wallS : 0;
  const iosPerWall = wallS > 0 ? ios / wallS : 0;
  return `${perWall.toPrecision(3)} simulated s per wall s, ${grouped(iosPerWall)} I/Os per wall s`;
}

/**
 * `--timing`: one stderr line per (point, path) run: wall time in the thread that ran it (boot
 * to finish), simulated time, kernel events, and the headline figures, simulated time and I/Os
 * per wall second. Wall time is the host's, so these lines never enter the report.
 */
export function timingLine(t: RunTiming): string {
  const params = Object.entries(t.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  const where = `${t.path}${params.length > 0 ? ` (${params.join(", ")})` : ""}`;
  return (
    `timing ${t.index + 1}/${t.total} ${where}: wall ${seconds(t.wallNs)}, cpu ${seconds(t.cpuNs)}` +
    `${t.thread > 0 ? ` (thread ${t.thread})` : ""}, ` +
    `simulated ${simTime(t.simNs)}, ${grouped(t.events)} events, ${rates(t.simNs, t.ios, t.wallNs)}\n`
  );
}

/** Sums of the runs' timings, for the closing line. */
export class TimingTotals {
  private runs = 0;
  private simNs = 0;
  private events = 0;
  private ios = 0;
  private runWallNs = 0;
  /**
   * Per thread: runs, their CPU time summed, a worker's CPU time since it started, and how much
   * of that went to its start-up and to probes.
   */
  private readonly threads = new Map<
    number,
    { runs: number; cpuNs: number; allNs: number; startNs: number; probeNs: number }
  >();

  add(t: RunTiming): void {
    this.runs++;
    this.simNs += t.simNs;
    this.events += t.events;
    this.ios += t.ios;
    this.runWallNs += t.wallNs;
    const th = this.threads.get(t.thread) ?? {
      runs: 0,
      cpuNs: 0,
      allNs: 0,
      startNs: 0,
      probeNs: 0,
    };
    th.runs++;
    th.cpuNs += t.cpuNs;
    th.allNs = Math.max(th.allNs, t.threadCpuNs ?? 0);
    th.startNs = Math.max(th.startNs, t.threadStartNs ?? 0);
    th.probeNs = Math.max(th.probeNs, t.threadProbeNs ?? 0);
    this.threads.set(t.thread, th);
  }

  /**
   * Where the sweep's CPU time went: the process's (`processNs`, every thread) and points per
   * CPU-second over it; per thread, its runs' CPU time and all of its own (`mainNs` for this
   * thread, over the sweep; a worker's since it started, with its start-up and probe shown); the
   * rest is Bun's own threads (GC, JIT compilers).
   */
  cpuLine(processNs: number, mainNs: number): string {
    const threads = [...this.threads.entries()].sort(([a], [b]) => a - b);
    let jsNs = 0;
    const each = threads.map(([n, th]) => {
      const allNs = n === 0 ? mainNs : th.allNs;
      jsNs += allNs;
      const parts =
        n === 0 ? "" : `: start-up ${seconds(th.startNs)}, probe ${seconds(th.probeNs)}`;
      return `thread ${n} ${th.runs} runs ${seconds(th.cpuNs)} (all ${seconds(allNs)}${parts})`;
    });
    const perCpu = processNs > 0 ? this.runs / (processNs / 1e9) : 0;
    return (
      `timing cpu: process ${seconds(processNs)}, ${perCpu.toPrecision(3)} runs per CPU-s; ` +
      `${each.join("; ")}; other threads ${seconds(Math.max(0, processNs - jsNs))}\n`
    );
  }

  /**
   * The sweep's line: the threads that ran its runs, its own wall time (`wallNs`, start to last
   * result) beside the runs' wall times summed, and the rates over the sweep's wall time.
   */
  line(wallNs: number): string {
    const n = this.threads.size;
    return (
      `timing all ${this.runs} runs on ${n} thread${n === 1 ? "" : "s"}: ` +
      `wall ${(wallNs / 1e9).toFixed(3)} s (runs' wall summed ${(this.runWallNs / 1e9).toFixed(3)} s), ` +
      `simulated ${simTime(this.simNs)}, ${grouped(this.events)} events, ${rates(this.simNs, this.ios, wallNs)}\n`
    );
  }
}
