import type { Scenario } from "../scenario/define.ts";
import { type PathMetrics, type Report, round } from "./report.ts";

/** One published figure next to the model's. */
export interface Comparison {
  params: Record<string, unknown>;
  path: string;
  metric: string;
  model: number;
  published: number;
  /** (model - published) / published. */
  diff: number;
  within: boolean;
  source: string;
}

/** The value at a "/"-separated metric path, or NaN when there is none. */
export function metricAt(m: PathMetrics, metric: string): number {
  let at: unknown = m;
  for (const key of metric.split("/")) at = (at as Record<string, unknown> | undefined)?.[key];
  return typeof at === "number" ? at : Number.NaN;
}

const sameParams = (want: Record<string, unknown>, have: Record<string, unknown>) =>
  Object.entries(want).every(([k, v]) => JSON.stringify(have[k]) === JSON.stringify(v));

/** The scenario's reference figures against the report, in reference order. */
export function compareWithReference(scn: Scenario, report: Report): Comparison[] {
  const out: Comparison[] = [];
  for (const ref of scn.reference) {
    for (const p of report.points) {
      const m = p.paths[ref.path];
      if (m === undefined || !sameParams(ref.point, p.params)) continue;
      const model = metricAt(m, ref.metric);
      const diff = (model - ref.value) / ref.value;
      out.push({
        params: p.params,
        path: ref.path,
        metric: ref.metric,
        model: round(model, 3),
        published: ref.value,
        diff: round(diff, 4),
        within: Math.abs(diff) <= ref.tolerance,
        source: ref.source,
      });
    }
  }
  return out;
}

/** The comparison as a text table. */
export function comparisonTable(rows: readonly Comparison[]): string {
  const head = ["path", "metric", "model", "published", "diff", ""];
  const body = rows.map((c) => [
    c.path,
    c.metric,
    String(c.model),
    String(c.published),
    `${c.diff >= 0 ? "+" : ""}${(c.diff * 100).toFixed(1)}%`,
    c.within ? "ok" : "OFF",
  ]);
  const all = [head, ...body];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const lines = all.map((r) =>
    r.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  "),
  );
  const sources = [...new Set(rows.map((c) => c.source))].map((s) => `source: ${s}`);
  return `model vs published\n${lines.join("\n")}\n${sources.join("\n")}\n`;
}
