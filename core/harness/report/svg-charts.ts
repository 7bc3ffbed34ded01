/**
 * Plain inline SVG charts for the HTML report: grouped bars, lines, and owner strips. Each
 * returns an `<svg>` string with a `<title>` and a `data-chart` attribute; no scripts, no
 * external references (the report must open from disk with no network).
 */

/** Colour-blind-safe palette (Tableau 10); series and domains take colours by index. */
export const PALETTE = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];
const FREE = "#e9edf2";
const INK = "#333";
const GRID = "#e3e6ea";

export const colour = (i: number): string => PALETTE[i % PALETTE.length]!;

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};
/** Escapes text for HTML and SVG content and attributes. */
export const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** Compact number: 1.52M, 722k, 9.17, 0.021. */
/** An SVG chart with its caption. */
export const figure = (caption: string, svg: string): string =>
  `<figure><figcaption>${esc(caption)}</figcaption>${svg}</figure>`;

export function fmt(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${+(n / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${+(n / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${+(n / 1e3).toFixed(1)}k`;
  if (a >= 100) return n.toFixed(0);
  if (a >= 1 || a === 0) return `${+n.toFixed(2)}`;
  return `${+n.toPrecision(2)}`;
}

/** Ticks from 0 to a round number at or above `max`: 1-2-5 steps, `target` to `target` + 1 of them. */
export function niceTicks(max: number, target = 4): number[] {
  const top = max > 0 ? max : 1;
  const mag = 10 ** Math.floor(Math.log10(top / target));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => top / s <= target + 1)!;
  const n = Math.ceil(top / step - 1e-9);
  return Array.from({ length: n + 1 }, (_, i) => +(i * step).toPrecision(12));
}

const px = (n: number) => +n.toFixed(1);

function svgOpen(chart: string, title: string, w: number, h: number, attrs = ""): string {
  return `<svg data-chart="${esc(chart)}"${attrs} viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img"><title>${esc(title)}</title>`;
}

/** Legend items laid out in rows from (x0, y0); returns the SVG and the height used. */
function legend(
  items: { name: string; fill: string }[],
  x0: number,
  y0: number,
  width: number,
): [string, number] {
  let x = x0;
  let y = y0;
  const parts: string[] = [];
  for (const { name, fill } of items) {
    const w = 22 + name.length * 6.2;
    if (x + w > x0 + width && x > x0) {
      x = x0;
      y += 16;
    }
    parts.push(
      `<rect x="${px(x)}" y="${y - 9}" width="10" height="10" rx="2" fill="${fill}" stroke="#c8ced6" stroke-width="${fill === FREE ? 1 : 0}"/>`,
      `<text x="${px(x + 14)}" y="${y}" font-size="11" fill="${INK}">${esc(name)}</text>`,
    );
    x += w;
  }
  return [parts.join(""), items.length === 0 ? 0 : y - y0 + 16];
}

const seriesLegend = (names: string[]) => names.map((name, i) => ({ name, fill: colour(i) }));

/** The y axis of a plot area: grid lines, tick labels, and the unit rotated on the left. */
function yAxis(ticks: number[], x: number, top: number, h: number, w: number, unit: string) {
  const max = ticks[ticks.length - 1]!;
  const parts = ticks.map((t) => {
    const y = px(top + h - (t / max) * h);
    return `<line x1="${x}" x2="${x + w}" y1="${y}" y2="${y}" stroke="${GRID}"/><text x="${x - 6}" y="${y + 4}" font-size="10" text-anchor="end" fill="${INK}">${fmt(t)}</text>`;
  });
  parts.push(
    `<text transform="translate(12 ${px(top + h / 2)}) rotate(-90)" font-size="11" text-anchor="middle" fill="${INK}">${esc(unit)}</text>`,
  );
  return parts.join("");
}

export interface BarChart {
  chart: string;
  title: string;
  /** Axis label, e.g. "Gb/s". */
  unit: string;
  /** Categories along x (the paths). */
  groups: string[];
  /** One bar per series in each group; values[g] belongs to groups[g]. */
  series: { name: string; values: number[] }[];
  /** Bar labels and tooltips (default: fmt). */
  format?: (v: number) => string;
}

/** Vertical grouped bars with value labels, a y axis from 0, and a legend when there are several series. */
export function barChart(c: BarChart): string {
  const W = Math.min(
    1100,
    Math.max(280, 80 + c.groups.length * Math.max(90, c.series.length * 36)),
  );
  const left = 56;
  const right = 10;
  const format = c.format ?? fmt;
  const plotW = W - left - right;
  const [leg, legH] =
    c.series.length > 1
      ? legend(seriesLegend(c.series.map((s) => s.name)), left, 14, plotW)
      : ["", 0];
  const top = 14 + legH + 8;
  const plotH = 150;
  const H = top + plotH + 30;
  const max = Math.max(0, ...c.series.flatMap((s) => s.values));
  const ticks = niceTicks(max);
  const yMax = ticks[ticks.length - 1]!;
  const gw = plotW / Math.max(1, c.groups.length);
  const bw = Math.min(44, (gw * 0.8) / Math.max(1, c.series.length));
  const parts = [
    svgOpen(c.chart, c.title, W, H),
    leg,
    yAxis(ticks, left, top, plotH, plotW, c.unit),
  ];
  c.groups.forEach((g, gi) => {
    const x0 = left + gi * gw + (gw - bw * c.series.length) / 2;
    c.series.forEach((s, si) => {
      const v = s.values[gi] ?? 0;
      const h = (v / yMax) * plotH;
      const x = px(x0 + si * bw);
      const y = px(top + plotH - h);
      parts.push(
        `<rect x="${x}" y="${y}" width="${px(bw - 2)}" height="${px(Math.max(h, 0.5))}" fill="${colour(si)}"><title>${esc(`${g} ${s.name}: ${format(v)} ${c.unit}`)}</title></rect>`,
        `<text x="${px(x + (bw - 2) / 2)}" y="${px(y - 3)}" font-size="9" text-anchor="middle" fill="${INK}">${esc(format(v))}</text>`,
      );
    });
    parts.push(
      `<text x="${px(left + gi * gw + gw / 2)}" y="${top + plotH + 16}" font-size="11" text-anchor="middle" fill="${INK}">${esc(g)}</text>`,
    );
  });
  parts.push(
    `<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="${INK}"/></svg>`,
  );
  return parts.join("");
}

export interface LineChart {
  chart: string;
  title: string;
  xLabel: string;
  yLabel: string;
  /** x values: numbers (placed to scale) or labels (evenly spaced). */
  xs: (number | string)[];
  /** ys[i] is the value at xs[i]; undefined leaves a gap. */
  series: { name: string; ys: (number | undefined)[] }[];
}

/** Lines over a numeric (linear, or log when it spans 16x or more) or categorical x axis, y from 0. */
export function lineChart(c: LineChart): string {
  const W = 380;
  const left = 56;
  const right = 16;
  const plotW = W - left - right;
  const [leg, legH] = legend(seriesLegend(c.series.map((s) => s.name)), left, 14, plotW);
  const top = 14 + legH + 8;
  const plotH = 150;
  const H = top + plotH + 40;
  const nums = c.xs.every((x) => typeof x === "number") ? (c.xs as number[]) : undefined;
  const lo = nums ? Math.min(...nums) : 0;
  const hi = nums ? Math.max(...nums) : c.xs.length - 1;
  const log = nums !== undefined && lo > 0 && hi / lo >= 16;
  const t = (v: number) => (log ? Math.log(v) : v);
  const xAt = (i: number): number => {
    const v = nums ? nums[i]! : i;
    return hi === lo ? left + plotW / 2 : left + ((t(v) - t(lo)) / (t(hi) - t(lo))) * plotW;
  };
  const max = Math.max(0, ...c.series.flatMap((s) => s.ys.filter((y) => y !== undefined)));
  const ticks = niceTicks(max);
  const yMax = ticks[ticks.length - 1]!;
  const yAt = (v: number) => top + plotH - (v / yMax) * plotH;
  const parts = [
    svgOpen(c.chart, c.title, W, H),
    leg,
    yAxis(ticks, left, top, plotH, plotW, c.yLabel),
  ];
  c.xs.forEach((x, i) => {
    const label = typeof x === "number" ? fmt(x) : x;
    parts.push(
      `<line x1="${px(xAt(i))}" x2="${px(xAt(i))}" y1="${top + plotH}" y2="${top + plotH + 4}" stroke="${INK}"/><text x="${px(xAt(i))}" y="${top + plotH + 16}" font-size="10" text-anchor="middle" fill="${INK}">${esc(label)}</text>`,
    );
  });
  parts.push(
    `<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="${INK}"/>`,
    `<text x="${px(left + plotW / 2)}" y="${top + plotH + 34}" font-size="11" text-anchor="middle" fill="${INK}">${esc(c.xLabel + (log ? " (log scale)" : ""))}</text>`,
  );
  c.series.forEach((s, si) => {
    const pts = s.ys.flatMap((y, i) => (y === undefined ? [] : [[xAt(i), yAt(y), i, y] as const]));
    const d = pts.map(([x, y], k) => `${k === 0 ? "M" : "L"}${px(x)} ${px(y)}`).join(" ");
    parts.push(`<path d="${d}" fill="none" stroke="${colour(si)}" stroke-width="2"/>`);
    for (const [x, y, i, v] of pts)
      parts.push(
        `<circle cx="${px(x)}" cy="${px(y)}" r="3" fill="${colour(si)}"><title>${esc(`${s.name}, ${c.xLabel} = ${c.xs[i]}: ${fmt(v)} ${c.yLabel}`)}</title></circle>`,
      );
  });
  parts.push("</svg>");
  return parts.join("");
}

export interface OwnerStrip {
  label: string;
  /** Pages in the strip, and [owner, length] runs covering them in order (-1 = free). */
  pages: number;
  /** First page shown (a zoomed strip starts inside the window). */
  first: number;
  runs: [owner: number, length: number][];
}

export interface OwnerMap {
  chart: string;
  title: string;
  /** The I/O path the map belongs to (a `data-path` attribute). */
  path: string;
  /** Owner names by owner number (domain id). */
  owners: string[];
  strips: OwnerStrip[];
}

/** Horizontal strips coloured by owner (free pages pale), with a legend of the owners present. */
export function ownerStrips(c: OwnerMap): string {
  const W = 900;
  const left = 10;
  const plotW = W - 2 * left;
  const { owners, strips } = c;
  const present = new Set(strips.flatMap((s) => s.runs.map(([o]) => o)).filter((o) => o >= 0));
  const stripH = 22;
  const rowH = stripH + 24;
  const legendY = 14 + strips.length * rowH + 8;
  // Owner colours follow owner numbers; past the palette they repeat, so only tooltips tell.
  const named = present.size <= PALETTE.length;
  const items = [
    ...(named
      ? owners.flatMap((name, id) => (present.has(id) ? [{ name, fill: colour(id) }] : []))
      : []),
    {
      name: named ? "free" : `free (${present.size} owners: colours repeat, hover a range)`,
      fill: FREE,
    },
  ];
  const [leg, legH] = legend(items, left, legendY, plotW);
  const H = legendY + legH;
  const parts = [svgOpen(c.chart, c.title, W, H, ` data-path="${esc(c.path)}"`)];
  strips.forEach((s, k) => {
    const y = 14 + k * rowH;
    parts.push(
      `<text x="${left}" y="${y + 2}" font-size="11" fill="${INK}">${esc(s.label)}</text>`,
      `<rect x="${left}" y="${y + 8}" width="${plotW}" height="${stripH}" fill="${FREE}"/>`,
    );
    let page = s.first;
    for (const [owner, len] of s.runs) {
      if (owner >= 0) {
        const x = left + ((page - s.first) / s.pages) * plotW;
        const w = Math.max(1, (len / s.pages) * plotW); // a one-page grant stays visible
        parts.push(
          `<rect x="${px(x)}" y="${y + 8}" width="${px(w)}" height="${stripH}" fill="${colour(owner)}"><title>${esc(`${owners[owner] ?? `domain ${owner}`}: pages ${page}–${page + len - 1} (${len})`)}</title></rect>`,
        );
      }
      page += len;
    }
  });
  parts.push(leg, "</svg>");
  return parts.join("");
}

export interface FillStrip {
  label: string;
  /** Pages [first, first + pages) cut into equal columns, each the share of its pages in use (0..1). */
  first: number;
  pages: number;
  used: number[];
}

/**
 * Strips of columns, each as opaque as its pages are in use: a comb of one-page holes reads as
 * a half-tone, a full stretch as solid. Neighbouring columns of one shade share a rect.
 */
export function fillStrips(c: {
  chart: string;
  title: string;
  path: string;
  what: string;
  strips: FillStrip[];
}): string {
  const W = 900;
  const left = 10;
  const plotW = W - 2 * left;
  const stripH = 22;
  const rowH = stripH + 24;
  const legendY = 14 + c.strips.length * rowH + 8;
  const [leg, legH] = legend(
    [
      { name: `${c.what} (shade: share of the column's pages)`, fill: colour(0) },
      { name: "free", fill: FREE },
    ],
    left,
    legendY,
    plotW,
  );
  const parts = [svgOpen(c.chart, c.title, W, legendY + legH, ` data-path="${esc(c.path)}"`)];
  c.strips.forEach((s, k) => {
    const y = 14 + k * rowH;
    parts.push(
      `<text x="${left}" y="${y + 2}" font-size="11" fill="${INK}">${esc(s.label)}</text>`,
      `<rect x="${left}" y="${y + 8}" width="${plotW}" height="${stripH}" fill="${FREE}"/>`,
    );
    const n = s.used.length;
    const start = (c: number) => s.first + Math.ceil((c * s.pages) / n); // as dvmaMoment cuts them
    for (let i = 0; i < n; ) {
      const f = s.used[i]!;
      let j = i + 1;
      while (j < n && s.used[j] === f) j++;
      if (f > 0) {
        const from = start(i);
        const to = start(j) - 1;
        parts.push(
          `<rect x="${px(left + (i / n) * plotW)}" y="${y + 8}" width="${px(Math.max(1, ((j - i) / n) * plotW))}" height="${stripH}" fill="${colour(0)}" fill-opacity="${f}"><title>${esc(`pages ${from}–${to}: ${Math.round(f * 100)}% in use`)}</title></rect>`,
        );
      }
      i = j;
    }
  });
  parts.push(leg, "</svg>");
  return parts.join("");
}
