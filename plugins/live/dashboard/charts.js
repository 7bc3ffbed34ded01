// Time-series charts (uPlot, served by the app from the npm package) and the DVMA owner map.

import uPlot from "/assets/uPlot.esm.js";

/** A colour per series or owner: hues spread around the wheel. */
export function colour(i) {
  return `hsl(${(i * 137.5 + 200) % 360} 70% 60%)`;
}

/**
 * A line chart of several runs against virtual time (ms): `update(series)` with
 * series = [{ label, colour, points: [[xNs, y], ...] }]. The runs' samples are joined on one x
 * axis (gaps spanned). The chart follows its box's width; `data-points` counts what it shows,
 * `data-draws` how often it was redrawn.
 */
export class LineChart {
  constructor(box, { yMax } = {}) {
    this.box = box;
    this.yMax = yMax;
    this.plot = undefined;
    this.key = "";
    new ResizeObserver(() => this.plot?.setSize(this.size())).observe(box);
  }

  size() {
    return { width: Math.max(200, this.box.clientWidth), height: 180 };
  }

  update(series) {
    const shown = series.filter((s) => s.points.length > 0);
    const tables = shown.map((s) => [s.points.map((p) => p[0] / 1e6), s.points.map((p) => p[1])]);
    const data = tables.length === 0 ? [[]] : uPlot.join(tables);
    const key = shown.map((s) => `${s.label}|${s.colour}`).join(",");
    if (this.plot === undefined || key !== this.key) {
      this.plot?.destroy();
      this.key = key;
      this.plot = new uPlot(this.options(shown), data, this.box);
    } else this.plot.setData(data);
    this.box.dataset.points = String(shown.reduce((n, s) => n + s.points.length, 0));
    this.box.dataset.draws = String(Number(this.box.dataset.draws ?? 0) + 1);
  }

  options(shown) {
    const axis = { stroke: "#8793a3", grid: { stroke: "#2c3542" }, ticks: { stroke: "#2c3542" } };
    return {
      ...this.size(),
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: false },
        y:
          this.yMax === undefined
            ? { range: (_, _min, max) => [0, max > 0 ? max : 1] }
            : { range: [0, this.yMax] },
      },
      axes: [{ ...axis, values: (_, ticks) => ticks.map((v) => `${+v.toFixed(3)} ms`) }, axis],
      series: [
        {},
        ...shown.map((s) => ({ label: s.label, stroke: s.colour, width: 1.5, spanGaps: true })),
      ],
    };
  }
}

/** Paints a window's owners (run-length encoded [owner, count] pairs) into `canvas`, one pixel per entry or group. */
export function drawOwners(canvas, windowPages, owners, colourOf) {
  const width = 1024;
  const pixels = Math.min(windowPages, width * width);
  const per = windowPages / pixels;
  canvas.width = width;
  canvas.height = Math.max(1, Math.ceil(pixels / width));
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  const rgba = new Map();
  let entry = 0;
  for (const [owner, count] of owners) {
    let c = rgba.get(owner);
    if (c === undefined) rgba.set(owner, (c = toRgba(colourOf(owner))));
    const from = Math.floor(entry / per);
    const to = Math.min(pixels, Math.ceil((entry + count) / per));
    for (let p = from; p < to; p++) img.data.set(c, p * 4);
    entry += count;
  }
  ctx.putImageData(img, 0, 0);
}

/** An `hsl()` or `#rrggbb` colour as RGBA bytes (through a 1x1 canvas, so any CSS colour works). */
const probe = document.createElement("canvas").getContext("2d", { willReadFrequently: true });
function toRgba(css) {
  probe.fillStyle = css;
  probe.fillRect(0, 0, 1, 1);
  return probe.getImageData(0, 0, 1, 1).data;
}
