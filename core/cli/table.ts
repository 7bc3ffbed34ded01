import { metricAt } from "../harness/report/reference.ts";
import type { Report } from "../harness/report/report.ts";
import {
  controlGuestCpuColumns,
  fmtMetric,
  pct,
  resultsRows,
} from "../harness/report/results-table.ts";

/**
 * The results table printed on stdout: one block per matrix point, one row per path; `columns`
 * adds the scenario's chosen metrics ("/" paths such as extra/nic.gbps). The HTML report shows
 * the same table (results-table.ts).
 */
export function resultsTable(
  r: Report,
  controlName: string,
  columns: readonly string[] = [],
): string {
  const lines: string[] = [];
  const cpu = controlGuestCpuColumns(controlName);
  for (const p of r.points) {
    const params = Object.entries(p.params);
    if (params.length > 0) lines.push(params.map(([k, v]) => `${k}=${paramLabel(v)}`).join("  "));
    const { head, rows } = resultsRows(p.paths, cpu, columns);
    lines.push(...align([head, ...rows]), "");
  }
  return lines.join("\n");
}

/**
 * One metric over the whole sweep: a row per matrix point (its parameters, headed by the last
 * segment of each key), a column per path.
 */
export function pivotTable(r: Report, metric: string): string {
  const keys = [...new Set(r.points.flatMap((p) => Object.keys(p.params)))];
  const paths = [...new Set(r.points.flatMap((p) => Object.keys(p.paths)))];
  const head = [...keys.map((k) => k.split(".").pop()!), ...paths];
  const rows = r.points.map((p) => [
    ...keys.map((k) => (k in p.params ? paramLabel(p.params[k]) : "")),
    ...paths.map((path) => {
      const m = p.paths[path];
      if (m === undefined) return "-";
      const v = metricAt(m, metric);
      return metric.startsWith("cpu/") ? pct(v) : fmtMetric(v);
    }),
  ]);
  return [`${metric} by point and path`, ...align([head, ...rows]), ""].join("\n");
}

/** A matrix value in a few words: plugin refs by name, workload specs by plugin, objects as k:v. */
export function paramLabel(v: unknown): string {
  if (Array.isArray(v)) {
    if (typeof v[0] === "string" && v.length === 2 && typeof v[1] === "object") return v[0];
    return v.map(paramLabel).join("+");
  }
  if (typeof v === "object" && v !== null) {
    if ("plugin" in v) return paramLabel((v as { plugin: unknown }).plugin);
    return Object.entries(v)
      .map(([k, x]) => `${k}:${paramLabel(x)}`)
      .join(",");
  }
  return typeof v === "string" ? v : JSON.stringify(v);
}

function align(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "),
  );
}
