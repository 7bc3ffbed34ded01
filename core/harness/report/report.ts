/**
 * The report: a stable JSON shape that tools and tests read (DESIGN section 3). Numbers are
 * rounded to fixed decimals so that the same run serialises to the same bytes everywhere.
 */

import type { PluginErrorCount } from "../scenario/failures.ts";

export interface PathMetrics {
  throughputGbps: number;
  iops: number;
  latencyUs: { p50: number; p99: number; p999: number };
  cpu: Record<string, number>;
  /** Utilisation of each vCPU, per domain (`cpu` holds their mean). */
  vcpus?: Record<string, number[]>;
  perIo: { hypercalls: number; ldcMessages: number; iotlbFlushes: number };
  dvma: { usedPages: number; fragmentation: number };
  faults: number;
  blocked: number;
  /** Beyond the stable shape: completed I/Os, failed I/Os, attacks tried, and workload-specific figures. */
  ios: number;
  errors: number;
  attacks: number;
  extra: Record<string, number>;
  /**
   * Who owns each DVMA page of each root complex's window at run end, run-length encoded in
   * window order: `owner` is a domain id (the order of `cpu`'s keys), -1 for a free page.
   */
  dvmaMap?: DvmaWindowMap[];
  /** Pictures of the window at moments workloads chose (e.g. the slowest map), by name order. */
  dvmaMoments?: DvmaMoment[];
  /** Plugin errors caught during the run (absent when there were none). */
  pluginErrors?: PluginErrorCount[];
}

/**
 * The DVMA pages in use at a moment a workload chose, as drawn: the whole window and, when
 * the pages in use lie in a small part of it, that part, each cut into MOMENT_COLUMNS columns
 * holding the share of their pages in use (so the picture's size does not grow with the map's).
 */
export interface DvmaMoment {
  /** What the moment was, e.g. "slowest map (877 µs, …)". */
  note: string;
  windowPages: number;
  /** Pages in use then. */
  usedPages: number;
  strips: { label: string; first: number; pages: number; used: number[] }[];
}

export interface DvmaWindowMap {
  devhandle: number;
  windowPages: number;
  runs: [owner: number, length: number][];
}

export interface ReportPoint {
  params: Record<string, unknown>;
  paths: Record<string, PathMetrics>;
}

export interface Report {
  scenario: string;
  seed: number;
  durationNs: number;
  /** The cost model the run used (after scenario overrides). */
  costModel: Record<string, number>;
  points: ReportPoint[];
}

/** Rounds to `digits` decimals (deterministic text in JSON). */
export const round = (x: number, digits = 4): number => {
  if (!Number.isFinite(x)) return 0;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export function reportJson(r: Report): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

/** One row per point and path. */
export function reportCsv(r: Report): string {
  const paramKeys = [...new Set(r.points.flatMap((p) => Object.keys(p.params)))].sort();
  const domains = [
    ...new Set(r.points.flatMap((p) => Object.values(p.paths).flatMap((m) => Object.keys(m.cpu)))),
  ];
  const head = [
    ...paramKeys,
    "path",
    "throughputGbps",
    "iops",
    "latencyP50Us",
    "latencyP99Us",
    "latencyP999Us",
    ...domains.map((d) => `cpu_${d}`),
    "hypercallsPerIo",
    "ldcMessagesPerIo",
    "iotlbFlushesPerIo",
    "dvmaUsedPages",
    "dvmaFragmentation",
    "faults",
    "blocked",
    "ios",
    "errors",
  ];
  const esc = (v: unknown) => {
    const s = typeof v === "string" ? v : JSON.stringify(v ?? "");
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const rows = [head.join(",")];
  for (const p of r.points) {
    for (const [path, m] of Object.entries(p.paths)) {
      rows.push(
        [
          ...paramKeys.map((k) => esc(p.params[k])),
          path,
          m.throughputGbps,
          m.iops,
          m.latencyUs.p50,
          m.latencyUs.p99,
          m.latencyUs.p999,
          ...domains.map((d) => m.cpu[d] ?? ""),
          m.perIo.hypercalls,
          m.perIo.ldcMessages,
          m.perIo.iotlbFlushes,
          m.dvma.usedPages,
          m.dvma.fragmentation,
          m.faults,
          m.blocked,
          m.ios,
          m.errors,
        ]
          .map(esc)
          .join(","),
      );
    }
  }
  return `${rows.join("\n")}\n`;
}
