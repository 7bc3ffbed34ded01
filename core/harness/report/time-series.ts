/**
 * The HTML report's time series over simulated time (throughput, latency, CPU per domain),
 * drawn with uPlot (npm `uplot`), whose script and stylesheet are inlined so the report stays one
 * self-contained file. The data goes in as JSON; a few lines of script draw one chart each.
 */

import { readFileSync } from "node:fs";
import type { RunSeries } from "../scenario/series-collector.ts";
import { esc } from "./svg-charts.ts";

const UPLOT_DIR = Bun.resolveSync("uplot/dist/uPlot.iife.min.js", import.meta.dir).replace(
  /uPlot\.iife\.min\.js$/,
  "",
);

/** One chart: x is simulated ms; one line per series. */
interface TsChart {
  id: string;
  title: string;
  unit: string;
  x: number[];
  series: { label: string; values: (number | null)[] }[];
}

const r4 = (v: number | null) => (v === null ? null : Math.round(v * 1e4) / 1e4);

/** The charts of one matrix point: throughput and latency per path, CPU per domain per path. */
export function pointCharts(point: number, runs: readonly RunSeries[]): TsChart[] {
  if (runs.length === 0) return [];
  const x = runs[0]!.tMs.map((t) => r4(t)!);
  const perPath = (key: "gbps" | "latencyUs") =>
    runs.map((s) => ({ label: s.path, values: s[key].map(r4) }));
  return [
    { id: `ts-${point}-gbps`, title: "Throughput", unit: "Gb/s", x, series: perPath("gbps") },
    { id: `ts-${point}-lat`, title: "Mean latency", unit: "µs", x, series: perPath("latencyUs") },
    ...runs.map((s) => ({
      id: `ts-${point}-cpu-${s.path}`,
      title: `CPU per domain, ${s.path}`,
      unit: "%",
      x: s.tMs.map((t) => r4(t)!),
      series: Object.entries(s.cpu).map(([d, v]) => ({
        label: d,
        values: v.map((u) => r4(u * 100)),
      })),
    })),
  ];
}

/** The section holding `charts`, with the data they draw. */
export function timeSeriesSection(charts: readonly TsChart[]): string {
  if (charts.length === 0) return "";
  const divs = charts
    .map((c) => `<div class="ts" id="${esc(c.id)}" data-chart="${esc(c.id)}"></div>`)
    .join("");
  return `<h3>Over simulated time</h3><div class="ts-grid">${divs}</div>`;
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];

/** The inlined uPlot, the charts' data, and the script that draws them (once per report). */
export function timeSeriesAssets(charts: readonly TsChart[]): string {
  if (charts.length === 0) return "";
  const css = readFileSync(`${UPLOT_DIR}uPlot.min.css`, "utf8");
  const js = readFileSync(`${UPLOT_DIR}uPlot.iife.min.js`, "utf8");
  const data = JSON.stringify(charts).replaceAll("<", "\\u003c");
  const draw = `(()=>{const P=${JSON.stringify(PALETTE)};
for(const c of JSON.parse(document.getElementById("ts-data").textContent)){
const el=document.getElementById(c.id);
new uPlot({title:c.title,width:Math.max(320,el.clientWidth||480),height:220,scales:{x:{time:false}},
axes:[{label:"simulated ms"},{label:c.unit}],
series:[{label:"ms"},...c.series.map((s,i)=>({label:s.label,stroke:P[i%P.length],width:1.5}))]},
[c.x,...c.series.map((s)=>s.values)],el);}})();`;
  return `<style>${css}.ts-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:8px}</style>
<script id="ts-data" type="application/json">${data}</script>
<script>${js.replaceAll("</script", "<\\/script")}</script>
<script>${draw}</script>`;
}
