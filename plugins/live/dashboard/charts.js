// Small SVG line charts and the DVMA owner map, drawn with the DOM only (no library, no CDN).

const SVG = "http://www.w3.org/2000/svg";
const W = 420;
const H = 180;
const PAD = { left: 44, right: 8, top: 8, bottom: 22 };

/** A colour per series or owner: hues spread around the wheel. */
export function colour(i) {
  return `hsl(${(i * 137.5 + 200) % 360} 70% 60%)`;
}

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent.appendChild(e);
  return e;
}

/** A "nice" upper bound for an axis (1, 2 or 5 times a power of ten). */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function label(v) {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toPrecision(2);
}

/**
 * Redraws `svg` with one polyline per series: { colour, points: [[xNs, y], ...] }.
 * The x axis is virtual time in ms.
 */
export function drawLines(svg, series, fixedMax) {
  svg.replaceChildren();
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xMax = Math.max(1, ...xs);
  const yMax = fixedMax ?? niceMax(Math.max(0, ...ys));
  const pw = W - PAD.left - PAD.right;
  const ph = H - PAD.top - PAD.bottom;
  const X = (x) => PAD.left + (x / xMax) * pw;
  const Y = (y) => PAD.top + ph - (Math.min(y, yMax) / yMax) * ph;
  el("line", { class: "axis", x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: PAD.top + ph }, svg);
  el(
    "line",
    { class: "axis", x1: PAD.left, y1: PAD.top + ph, x2: W - PAD.right, y2: PAD.top + ph },
    svg,
  );
  for (const f of [0, 0.5, 1]) {
    const t = el("text", { x: PAD.left - 4, y: Y(f * yMax) + 3, "text-anchor": "end" }, svg);
    t.textContent = label(f * yMax);
    const u = el(
      "text",
      { x: X(f * xMax), y: H - 6, "text-anchor": f === 0 ? "start" : f === 1 ? "end" : "middle" },
      svg,
    );
    u.textContent = `${label((f * xMax) / 1e6)} ms`;
  }
  let n = 0;
  for (const s of series) {
    if (s.points.length === 0) continue;
    const pts = s.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" ");
    el("polyline", { points: pts, stroke: s.colour }, svg);
    n += s.points.length;
  }
  svg.dataset.points = String(n);
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
