import { metricAt } from "../harness/report/reference.ts";
import type { Report } from "../harness/report/report.ts";

/**
 * The results table printed on stdout: one block per matrix point, one row per path; `columns`
 * adds the scenario's chosen metrics ("/" paths such as extra/nic.gbps).
 */
export function resultsTable(
  r: Report,
  controlName: string,
  columns: readonly string[] = [],
): string {
  const lines: string[] = [];
  const head = [
    "path",
    "Gb/s",
    "IOPS",
    "p50 µs",
    "p99 µs",
    "p999 µs",
    `${controlName} CPU`,
    "guest CPU",
    "hcalls/IO",
    "LDC/IO",
    "flush/IO",
    "faults",
    "blocked",
    ...columns.map((c) => c.split("/").pop()!),
  ];
  for (const p of r.points) {
    const params = Object.entries(p.params);
    if (params.length > 0) lines.push(params.map(([k, v]) => `${k}=${paramLabel(v)}`).join("  "));
    const rows = Object.entries(p.paths).map(([path, m]) => {
      const guests = Object.entries(m.cpu).filter(([d]) => d !== controlName);
      const guestCpu =
        guests.length === 0 ? 0 : guests.reduce((a, [, u]) => a + u, 0) / guests.length;
      return [
        path,
        m.throughputGbps.toFixed(2),
        fmtCount(m.iops),
        m.latencyUs.p50.toFixed(1),
        m.latencyUs.p99.toFixed(1),
        m.latencyUs.p999.toFixed(1),
        pct(m.cpu[controlName] ?? 0),
        pct(guestCpu),
        m.perIo.hypercalls.toFixed(2),
        m.perIo.ldcMessages.toFixed(2),
        m.perIo.iotlbFlushes.toFixed(2),
        String(m.faults),
        m.attacks > 0 ? `${m.blocked}/${m.attacks}` : String(m.blocked),
        ...columns.map((c) => fmtMetric(metricAt(m, c))),
      ];
    });
    lines.push(...align([head, ...rows]), "");
  }
  return lines.join("\n");
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

const pct = (u: number) => `${(u * 100).toFixed(1)}%`;

function fmtMetric(n: number): string {
  if (Number.isNaN(n)) return "-";
  return Math.abs(n) >= 1e4 ? fmtCount(n) : Number.isInteger(n) ? String(n) : n.toFixed(2);
}

function fmtCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

function align(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "),
  );
}
