/**
 * Failures that must not stay silent: plugin errors caught during a run (a policy that broke its
 * contract, a plugin that threw) and I/O that failed. Each run collects them into its metrics;
 * at the end the CLI prints `failureSummary` on stderr and exits with `EXIT_PLUGIN_ERRORS`
 * unless told to tolerate them.
 */

import type { PluginError } from "../../input/errors.ts";
import type { PathMetrics, Report } from "../report/report.ts";

/** Exit status of a run that completed, but with plugin errors (0 ok, 1 failed, 2 bad input). */
export const EXIT_PLUGIN_ERRORS = 3;

/** One plugin hook's errors in one run: how many, and the first (message, simulated time, seed). */
export interface PluginErrorCount {
  plugin: string;
  hook: string;
  count: number;
  first: { message: string; atNs: number; seed: number };
}

/** Collects a run's plugin errors by (plugin, hook), keeping the first of each. */
export class PluginErrorLog {
  private readonly byKey = new Map<string, PluginErrorCount>();

  constructor(
    private readonly now: () => number,
    private readonly seed: number,
  ) {}

  record(e: PluginError): void {
    const key = `${e.plugin}\u0000${e.hook}`;
    const seen = this.byKey.get(key);
    if (seen !== undefined) seen.count++;
    else
      this.byKey.set(key, {
        plugin: e.plugin,
        hook: e.hook,
        count: 1,
        first: { message: e.message, atNs: this.now(), seed: this.seed },
      });
  }

  get total(): number {
    let n = 0;
    for (const c of this.byKey.values()) n += c.count;
    return n;
  }

  /** In order of first occurrence. */
  list(): PluginErrorCount[] {
    return [...this.byKey.values()];
  }
}

/** Counts failed I/O by reason; the figures go into the metrics' `extra` as `errors.<reason>`. */
export class IoErrorTally {
  private readonly byReason = new Map<string, number>();

  total = 0;

  record(reason: string): void {
    this.total++;
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
  }

  /** `errors.<reason>` → count, sorted by reason (deterministic report text). */
  figures(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [r, n] of [...this.byReason.entries()].sort(([a], [b]) => (a < b ? -1 : 1)))
      out[`errors.${r}`] = n;
    return out;
  }
}

/** Every run of a report that had plugin errors, named by path and matrix parameters. */
export function pluginErrorsOf(
  report: Report,
): { run: string; errors: readonly PluginErrorCount[] }[] {
  const out: { run: string; errors: readonly PluginErrorCount[] }[] = [];
  for (const p of report.points) {
    const params = Object.entries(p.params).map(([k, v]) => `, ${k}=${JSON.stringify(v)}`);
    for (const [path, m] of Object.entries(p.paths)) {
      if (m.pluginErrors !== undefined && m.pluginErrors.length > 0)
        out.push({ run: `path ${path}${params.join("")}`, errors: m.pluginErrors });
    }
  }
  return out;
}

/** The most frequent failure reasons of a run, "map-failed 120, out-of-memory 3". */
function topReasons(m: PathMetrics, n = 3): string {
  return Object.entries(m.extra)
    .filter(([k]) => k.startsWith("errors."))
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
    .slice(0, n)
    .map(([k, v]) => `${k.slice("errors.".length)} ${v}`)
    .join(", ");
}

/**
 * What went wrong, for stderr: each plugin error (plugin, hook, count, first occurrence with
 * simulated time and seed), and each run that completed no I/O (and observed nothing) with why
 * its I/O failed.
 * Empty when nothing did.
 */
export function failureSummary(report: Report): string {
  const lines: string[] = [];
  for (const { run, errors } of pluginErrorsOf(report)) {
    for (const e of errors) {
      lines.push(
        `${e.first.message}\n  ${e.count}× in ${run}; first at t=${e.first.atNs}ns, seed ${e.first.seed}`,
      );
    }
  }
  for (const p of report.points) {
    const params = Object.entries(p.params).map(([k, v]) => `, ${k}=${JSON.stringify(v)}`);
    for (const [path, m] of Object.entries(p.paths)) {
      // A workload that observed figures of its own (e.g. DMA maps without device I/O) ran.
      const observed = Object.entries(m.extra).some(([k, v]) => k.endsWith(".count") && v > 0);
      if (m.ios > 0 || m.attacks > 0 || observed) continue;
      const why = topReasons(m);
      lines.push(
        `warning: path ${path}${params.join("")} completed no I/O${why ? ` (failed: ${why})` : ""}`,
      );
    }
  }
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}
