import type { PathRun } from "../harness/scenario/runner.ts";

/** Groups digits: 1234567 -> "1,234,567". */
const grouped = (n: number) => Math.round(n).toLocaleString("en-US");

/** Simulated time with the unit that keeps it readable. */
function simTime(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toPrecision(4)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toPrecision(4)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toPrecision(4)} us`;
  return `${ns} ns`;
}

/**
 * `--timing`: one stderr line per (point, path) run: wall time (boot to finish), simulated time,
 * kernel events, and the headline figures, simulated time and I/Os per wall second. Wall time
 * is the host's, so these lines never enter the report.
 */
export function timingLine(run: PathRun, simNs: number, wallNs: number): string {
  const { info } = run;
  const params = Object.entries(info.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  const where = `${info.path}${params.length > 0 ? ` (${params.join(", ")})` : ""}`;
  const wallS = wallNs / 1e9;
  const perWall = wallS > 0 ? simNs / 1e9 / wallS : 0;
  const iosPerWall = wallS > 0 ? run.metrics.ios / wallS : 0;
  return (
    `timing ${info.index + 1}/${info.total} ${where}: wall ${wallS.toFixed(3)} s, ` +
    `simulated ${simTime(simNs)}, ${grouped(run.events)} events, ` +
    `${perWall.toPrecision(3)} simulated s per wall s, ${grouped(iosPerWall)} I/Os per wall s\n`
  );
}
