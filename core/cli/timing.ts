import type { RunTiming } from "../harness/scenario/parallel.ts";

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
    `timing ${t.index + 1}/${t.total} ${where}: wall ${(t.wallNs / 1e9).toFixed(3)} s, ` +
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
  private readonly threads = new Set<number>();

  add(t: RunTiming): void {
    this.runs++;
    this.simNs += t.simNs;
    this.events += t.events;
    this.ios += t.ios;
    this.runWallNs += t.wallNs;
    this.threads.add(t.thread);
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
