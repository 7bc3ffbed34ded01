/**
 * The results table, one definition for the CLI's text table and the HTML report: the same
 * header and the same cells, one row per path. Only the CPU columns differ by medium (the CLI
 * shows the control domain and the guests' mean; the report one column per domain).
 */

import { metricAt } from "./reference.ts";
import type { PathMetrics } from "./report.ts";

/** A CPU column: the domain (or group) it shows and how to read it. */
export interface CpuColumn {
  key: string;
  name: string;
  get: (m: PathMetrics) => number | undefined;
}

/** Past this many domains, CPU is shown for the control domains and the mean over the others. */
const MAX_CPU_DOMAINS = 6;

const mean = (m: PathMetrics, control: ReadonlySet<string>) => {
  const rest = Object.entries(m.cpu).filter(([d]) => !control.has(d));
  return rest.length === 0 ? undefined : rest.reduce((a, [, u]) => a + u, 0) / rest.length;
};

/** One CPU column per domain, or (many domains) the control domains and the others' mean. */
export function domainCpuColumns(
  runs: readonly PathMetrics[],
  control: ReadonlySet<string>,
): CpuColumn[] {
  const domains = [...new Set(runs.flatMap((m) => Object.keys(m.cpu)))];
  const one = (d: string): CpuColumn => ({ key: d, name: d, get: (m) => m.cpu[d] });
  if (domains.length <= MAX_CPU_DOMAINS) return domains.map(one);
  return [
    ...domains.filter((d) => control.has(d)).map(one),
    { key: "others-mean", name: "other domains (mean)", get: (m) => mean(m, control) },
  ];
}

/** The control domain and the mean over the guests (the CLI's two CPU columns). */
export function controlGuestCpuColumns(control: string): CpuColumn[] {
  const set = new Set([control]);
  return [
    { key: control, name: control, get: (m) => m.cpu[control] ?? 0 },
    { key: "guest", name: "guest", get: (m) => mean(m, set) ?? 0 },
  ];
}

/**
 * The header and one row of cells per path. `columns` adds the scenario's chosen metrics
 * ("/" paths such as extra/nic.gbps), headed by their last segment.
 */
export function resultsRows(
  paths: Readonly<Record<string, PathMetrics>>,
  cpu: readonly CpuColumn[],
  columns: readonly string[] = [],
): { head: string[]; rows: string[][] } {
  const head = [
    "path",
    "Gb/s",
    "IOPS",
    "p50 µs",
    "p99 µs",
    "p999 µs",
    ...cpu.map((c) => `${c.name} CPU`),
    "hcalls/IO",
    "LDC/IO",
    "flush/IO",
    "DVMA pages",
    "faults",
    "blocked",
    "errors",
    ...columns.map((c) => c.split("/").pop()!),
  ];
  const rows = Object.entries(paths).map(([path, m]) => [
    path,
    m.throughputGbps.toFixed(2),
    fmtCount(m.iops),
    m.latencyUs.p50.toFixed(1),
    m.latencyUs.p99.toFixed(1),
    m.latencyUs.p999.toFixed(1),
    ...cpu.map((c) => pct(c.get(m) ?? 0)),
    m.perIo.hypercalls.toFixed(2),
    m.perIo.ldcMessages.toFixed(2),
    m.perIo.iotlbFlushes.toFixed(2),
    String(m.dvma.usedPages),
    String(m.faults),
    m.attacks > 0 ? `${m.blocked}/${m.attacks}` : String(m.blocked),
    String(m.errors),
    ...columns.map((c) => fmtMetric(metricAt(m, c))),
  ]);
  return { head, rows };
}

export const pct = (u: number) => `${(u * 100).toFixed(1)}%`;

/** A metric cell: counts with k/M, integers as they are, others to two decimals, NaN as "-". */
export function fmtMetric(n: number): string {
  if (Number.isNaN(n)) return "-";
  return Math.abs(n) >= 1e4 ? fmtCount(n) : Number.isInteger(n) ? String(n) : n.toFixed(2);
}

export function fmtCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}
