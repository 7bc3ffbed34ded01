import { CostModelSchema } from "../../model/machine/cost-model.ts";
import { parseCostModel } from "../../model/machine/parse.ts";
import type { PluginRef, Scenario } from "../scenario/define.ts";
import type { RunSeries } from "../scenario/series-collector.ts";
import { dvmaMaps } from "./dvma-maps.ts";
import type { PathMetrics, Report, ReportPoint } from "./report.ts";
import { domainCpuColumns, resultsRows } from "./results-table.ts";
import { type BarChart, barChart, esc, figure, fmt, lineChart } from "./svg-charts.ts";
import { pointCharts, timeSeriesAssets, timeSeriesSection } from "./time-series.ts";

/**
 * The report as one self-contained HTML page (`--report out.html`): the scenario and cost
 * model, per matrix point a results table, time series over simulated time (uPlot, inlined,
 * when `series` were collected), bar charts and the DVMA window map, and sweep curves when
 * there is a matrix. Everything inline, no network; the same report gives the same bytes.
 */
export function htmlReport(r: Report, scn: Scenario, series: readonly RunSeries[] = []): string {
  const control = new Set(
    scn.machine.domains.filter((d) => d.role === "control").map((d) => d.name),
  );
  const timeCharts = r.points.map((p, i) =>
    pointCharts(
      i,
      series.filter((s) => same(s.params, p.params)),
    ),
  );
  const body = [
    `<h1>${esc(r.scenario)}</h1>`,
    scn.description ? `<p class="lead">${esc(scn.description)}</p>` : "",
    overview(r, scn),
    costModel(r),
    r.points.length > 1 ? sweep(r, control) : "",
    ...r.points.map((p, i) =>
      point(r, p, i, control, scn.columns, timeSeriesSection(timeCharts[i]!)),
    ),
    `<footer>sun4v-dvma scenario report. Charts: hover a bar, point or DVMA range for its value.</footer>`,
    timeSeriesAssets(timeCharts.flat()),
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(r.scenario)}: sun4v-dvma report</title>
<style>${CSS}</style>
</head>
<body>
${body.filter((s) => s !== "").join("\n")}
</body>
</html>
`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;background:#fafbfc;max-width:1260px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:26px}h2{margin:32px 0 8px;font-size:19px;border-bottom:1px solid #dde2e8;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.lead{color:#555;margin:0 0 16px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#eef1f5;padding:1px 4px;border-radius:3px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}dl.facts dt{color:#666}dl.facts dd{margin:0}
table{border-collapse:collapse;background:#fff;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #e1e5ea;padding:3px 8px;text-align:right}th{background:#f1f4f7;font-weight:600}
td:first-child,th:first-child{text-align:left}
.changed{font-weight:600;color:#b3541e}
.charts{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;background:#fff;border:1px solid #e1e5ea;border-radius:6px;padding:8px}
figcaption{width:0;min-width:100%;font-size:13px;font-weight:600;margin:0 0 4px}
svg{max-width:100%;height:auto;display:block;font-family:inherit}
.note{color:#666;font-size:12px}
footer{margin-top:32px;color:#888;font-size:12px}
`;

const refText = (ref: PluginRef) =>
  typeof ref === "string" ? ref : `${ref[0]} ${JSON.stringify(ref[1])}`;

const paramText = (params: Record<string, unknown>) =>
  Object.entries(params)
    .map(([k, v]) => `<code>${esc(`${k}=${JSON.stringify(v)}`)}</code>`)
    .join(" ");

function overview(r: Report, scn: Scenario): string {
  const md = scn.machine;
  const paths = new Set(r.points.flatMap((p) => Object.keys(p.paths))).size;
  const facts: [string, string][] = [
    ["seed", String(r.seed)],
    ["simulated per run", `${fmt(r.durationNs / 1e6)} ms`],
    ["runs", `${r.points.length} point${r.points.length === 1 ? "" : "s"} × ${paths} path(s)`],
    ["paths", scn.paths.map((p) => esc(refText(p))).join(", ")],
    [
      "policies",
      `global ${esc(refText(scn.policies.global))}, local ${esc(refText(scn.policies.local))}`,
    ],
    [
      "domains",
      md.domains
        .map((d) => esc(`${d.name} (${d.role}, ${d.strands} strands, ${d.memoryMiB} MiB)`))
        .join(", "),
    ],
    [
      "root complexes",
      md.rootComplexes
        .map((rc) =>
          esc(`0x${rc.devhandle.toString(16)}: DVMA window ${fmtBytes(rc.virtualDma.size)}`),
        )
        .join(", "),
    ],
    ["devices", md.devices.map((d) => esc(`${d.name} (${d.kind}) → ${d.domain}`)).join(", ")],
    ["workloads", scn.workloads.map((w) => esc(`${refText(w.plugin)} on ${w.guests}`)).join("; ")],
    ["guest DMA", esc(JSON.stringify(scn.guestDma))],
  ];
  for (const [k, values] of Object.entries(scn.matrix))
    facts.push([`sweep ${esc(k)}`, values.map((v) => esc(JSON.stringify(v))).join(", ")]);
  return `<h2>Scenario</h2><dl class="facts">${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>`;
}

function fmtBytes(n: number): string {
  for (const [unit, size] of [
    ["GiB", 2 ** 30],
    ["MiB", 2 ** 20],
    ["KiB", 2 ** 10],
  ] as const)
    if (n >= size) return `${fmt(n / size)} ${unit}`;
  return `${n} B`;
}

/** The cost model: each constant's value, where it comes from (its schema's description), and the default when changed. */
function costModel(r: Report): string {
  const defaults = parseCostModel({}) as unknown as Record<string, number>;
  const props = CostModelSchema.properties as Record<string, { description?: string }>;
  const rows = Object.entries(r.costModel).map(([k, v]) => {
    const changed = defaults[k] !== v;
    const unit = k.endsWith("BytesPerNs") ? "B/ns" : k.endsWith("Ns") ? "ns" : "";
    const source = props[k]?.description ?? "";
    return `<tr${changed ? ' class="changed"' : ""}><td>${esc(k)}</td><td>${v}</td><td>${unit}</td><td>${esc(source)}</td><td>${changed ? `default ${defaults[k]}` : ""}</td></tr>`;
  });
  return `<h2>Cost model</h2><table><tr><th>constant</th><th>value</th><th>unit</th><th>what it is and where it comes from</th><th>changed</th></tr>${rows.join("")}</table>`;
}

/** Every numeric figure a path reports, flattened, with how to read it. */
interface Metric {
  key: string;
  label: string;
  unit: string;
  get: (m: PathMetrics) => number | undefined;
}

function metrics(r: Report, control: ReadonlySet<string>): Metric[] {
  const all = r.points.flatMap((p) => Object.values(p.paths));
  const cpu = domainCpuColumns(all, control);
  const extras = [...new Set(all.flatMap((m) => Object.keys(m.extra)))];
  return [
    { key: "throughputGbps", label: "Throughput", unit: "Gb/s", get: (m) => m.throughputGbps },
    { key: "iops", label: "I/O rate", unit: "IOPS", get: (m) => m.iops },
    ...(["p50", "p99", "p999"] as const).map((q) => ({
      key: `latencyUs.${q}`,
      label: `Latency ${q}`,
      unit: "µs",
      get: (m: PathMetrics) => m.latencyUs[q],
    })),
    ...cpu.map((c) => ({
      key: `cpu.${c.key}`,
      label: `CPU ${c.name}`,
      unit: "%",
      get: (m: PathMetrics) => {
        const u = c.get(m);
        return u === undefined ? undefined : u * 100;
      },
    })),
    ...(
      [
        ["hypercalls", "Hypercalls per I/O"],
        ["ldcMessages", "LDC messages per I/O"],
        ["iotlbFlushes", "IOTLB flushes per I/O"],
      ] as const
    ).map(([k, label]) => ({
      key: `perIo.${k}`,
      label,
      unit: "per I/O",
      get: (m: PathMetrics) => m.perIo[k],
    })),
    {
      key: "dvma.usedPages",
      label: "DVMA pages in use",
      unit: "pages",
      get: (m) => m.dvma.usedPages,
    },
    {
      key: "dvma.fragmentation",
      label: "DVMA fragmentation",
      unit: "",
      get: (m) => m.dvma.fragmentation,
    },
    { key: "faults", label: "DMA faults", unit: "", get: (m) => m.faults },
    { key: "blocked", label: "Attacks blocked", unit: "", get: (m) => m.blocked },
    { key: "errors", label: "Failed I/Os", unit: "", get: (m) => m.errors },
    ...extras.map((k) => ({
      key: `extra.${k}`,
      label: k,
      unit: k.endsWith("Us") ? "µs" : "",
      get: (m: PathMetrics) => m.extra[k],
    })),
  ];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Sweep curves: each metric against the first numeric matrix parameter (else the first one,
 * as categories), one line per path and combination of the other parameters. Metrics that
 * never change are listed instead of drawn.
 */
function sweep(r: Report, control: ReadonlySet<string>): string {
  const keys = Object.keys(r.points[0]!.params);
  if (keys.length === 0) return "";
  const xKey = keys.find((k) => r.points.every((p) => typeof p.params[k] === "number")) ?? keys[0]!;
  const others = keys.filter((k) => k !== xKey);
  const xVals: unknown[] = [];
  for (const p of r.points)
    if (!xVals.some((x) => same(x, p.params[xKey]))) xVals.push(p.params[xKey]);
  const numeric = xVals.every((x) => typeof x === "number");
  if (numeric) (xVals as number[]).sort((a, b) => a - b);
  const xs = xVals.map((x) => (numeric ? (x as number) : JSON.stringify(x)));
  // One line per path and combination of the other parameters, in report order.
  const lines: { name: string; path: string; rest: Record<string, unknown> }[] = [];
  for (const p of r.points) {
    const rest = Object.fromEntries(others.map((k) => [k, p.params[k]]));
    for (const path of Object.keys(p.paths)) {
      if (lines.some((l) => l.path === path && same(l.rest, rest))) continue;
      const tail = others.map((k) => `${k}=${JSON.stringify(rest[k])}`).join(" ");
      lines.push({ name: tail ? `${path} ${tail}` : path, path, rest });
    }
  }
  const at = (line: (typeof lines)[number], x: unknown): PathMetrics | undefined =>
    r.points.find(
      (p) => same(p.params[xKey], x) && others.every((k) => same(p.params[k], line.rest[k])),
    )?.paths[line.path];
  const flat: string[] = [];
  const charts: string[] = [];
  for (const m of metrics(r, control)) {
    const series = lines.map((l) => ({ name: l.name, ys: xVals.map((x) => mapGet(at(l, x), m)) }));
    const values = series.flatMap((s) => s.ys.filter((y) => y !== undefined));
    if (values.every((v) => v === values[0])) {
      flat.push(`${m.label} ${fmt(values[0] ?? 0)} ${m.unit}`.trimEnd());
      continue;
    }
    const title = `${m.label} vs ${xKey}`;
    charts.push(
      figure(
        title,
        lineChart({
          chart: `sweep-${m.key}`,
          title,
          xLabel: xKey,
          yLabel: m.unit || m.label,
          xs,
          series,
        }),
      ),
    );
  }
  const note =
    flat.length > 0 ? `<p class="note">Constant over the sweep: ${esc(flat.join("; "))}.</p>` : "";
  return `<h2>Sweep over <code>${esc(xKey)}</code></h2><div class="charts">${charts.join("")}</div>${note}`;
}

const mapGet = (pm: PathMetrics | undefined, m: Metric) =>
  pm === undefined ? undefined : m.get(pm);

/** One matrix point: the results table, bar charts per path, and the DVMA map of each path. */
function point(
  r: Report,
  p: ReportPoint,
  i: number,
  control: ReadonlySet<string>,
  columns: readonly string[],
  overTime: string,
): string {
  const entries = Object.entries(p.paths);
  const paths = entries.map(([name]) => name);
  const cpu = domainCpuColumns(
    entries.map(([, m]) => m),
    control,
  );
  const { head, rows } = resultsRows(p.paths, cpu, columns);
  const table = `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>${rows
    .map((row) => `<tr>${row.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`)
    .join("")}</table>`;
  const ms = entries.map(([, m]) => m);
  const bars: BarChart[] = [
    {
      chart: "throughput",
      title: "Throughput per path",
      unit: "Gb/s",
      groups: paths,
      series: [{ name: "throughput", values: ms.map((m) => m.throughputGbps) }],
    },
    {
      chart: "latency",
      title: "Latency per path",
      unit: "µs",
      groups: paths,
      series: (["p50", "p99", "p999"] as const).map((q) => ({
        name: q,
        values: ms.map((m) => m.latencyUs[q]),
      })),
    },
    {
      chart: "cpu",
      title: "CPU utilisation per domain",
      unit: "%",
      groups: paths,
      series: cpu.map((c) => ({ name: c.name, values: ms.map((m) => (c.get(m) ?? 0) * 100) })),
      format: (v) => `${v.toFixed(1)}%`,
    },
    {
      chart: "per-io",
      title: "Hypervisor work per I/O",
      unit: "per I/O",
      groups: paths,
      series: [
        { name: "hypercalls", values: ms.map((m) => m.perIo.hypercalls) },
        { name: "LDC messages", values: ms.map((m) => m.perIo.ldcMessages) },
        { name: "IOTLB flushes", values: ms.map((m) => m.perIo.iotlbFlushes) },
      ],
    },
  ];
  const heading =
    r.points.length > 1
      ? `Point ${i + 1} of ${r.points.length}: ${paramText(p.params)}`
      : "Results";
  return `<section data-point="${i}"><h2>${heading}</h2>${table}${overTime}<div class="charts">${bars.map((c) => figure(c.title, barChart(c))).join("")}</div>${dvmaMaps(entries)}</section>`;
}
