import { type DvmaMoment, type PathMetrics, round } from "./report.ts";
import { figure, fillStrips, type OwnerStrip, ownerStrips } from "./svg-charts.ts";

/** Zoom into the used part of a window when it covers less than this fraction of it. */
const ZOOM_BELOW = 0.25;

/**
 * Per path, a strip per root complex coloured by the owner of each DVMA page at run end, then
 * each picture of the window a workload kept at a moment of its own (e.g. its slowest map).
 */
export function dvmaMaps(entries: [string, PathMetrics][]): string {
  const figs = entries.flatMap(([path, m]) => {
    const out: string[] = [];
    if (m.dvmaMap !== undefined && m.dvmaMap.length > 0) {
      const owners = Object.keys(m.cpu); // domain ids index cpu's keys (see PathMetrics.dvmaMap)
      const strips = m.dvmaMap.flatMap((w) =>
        windowStrips(`root complex 0x${w.devhandle.toString(16)}`, w.windowPages, w.runs),
      );
      const title = `DVMA window owners at run end: ${path}`;
      out.push(figure(title, ownerStrips({ chart: "dvma-map", title, path, owners, strips })));
    }
    for (const mo of m.dvmaMoments ?? []) {
      const title = `DVMA pages in use at the ${mo.note}: ${path}`;
      const what = `in use (${mo.usedPages} pages)`;
      out.push(
        figure(title, fillStrips({ chart: "dvma-moment", title, path, what, strips: mo.strips })),
      );
    }
    return out;
  });
  return figs.length > 0 ? `<h3>DVMA windows</h3><div class="charts">${figs.join("")}</div>` : "";
}

/** The whole window, and zoomed to its used part when that is small. */
function windowStrips(name: string, windowPages: number, runs: [number, number][]): OwnerStrip[] {
  const used = runs.reduce((a, [o, n]) => a + (o >= 0 ? n : 0), 0);
  const strips: OwnerStrip[] = [
    { label: `${name}: ${windowPages} pages, ${used} in use`, pages: windowPages, first: 0, runs },
  ];
  const zoom = usedExtent(runs);
  if (zoom !== undefined && zoom.pages < windowPages * ZOOM_BELOW)
    strips.push({
      label: `${name}, zoomed to pages ${zoom.first}–${zoom.first + zoom.pages - 1}`,
      ...zoom,
    });
  return strips;
}

/** The runs between the first and the last owned page, or undefined when nothing is owned. */
function usedExtent(runs: [number, number][]): Omit<OwnerStrip, "label"> | undefined {
  let page = 0;
  let first = -1;
  let end = 0;
  for (const [o, n] of runs) {
    if (o >= 0) {
      if (first < 0) first = page;
      end = page + n;
    }
    page += n;
  }
  if (first < 0) return undefined;
  const inside: [number, number][] = [];
  page = 0;
  for (const [o, n] of runs) {
    const a = Math.max(page, first);
    const b = Math.min(page + n, end);
    if (b > a) inside.push([o, b - a]);
    page += n;
  }
  return { first, pages: end - first, runs: inside };
}

/** Columns per strip of a DVMA moment: one per pixel of the drawn strip. */
export const MOMENT_COLUMNS = 880;

/** A moment's pages in use ([first, pages] pairs) as the report keeps it: see DvmaMoment. */
export function dvmaMoment(m: { note: string; windowPages: number; ranges: number[] }): DvmaMoment {
  const spans: [number, number][] = [];
  for (let i = 0; i < m.ranges.length; i += 2) spans.push([m.ranges[i]!, m.ranges[i + 1]!]);
  spans.sort((a, b) => a[0] - b[0]);
  const usedPages = spans.reduce((a, [, n]) => a + n, 0);
  const strips = [fill("window", 0, m.windowPages, spans)];
  if (spans.length > 0) {
    const first = spans[0]![0];
    const end = Math.max(...spans.map(([f, n]) => f + n));
    if (end - first < m.windowPages * ZOOM_BELOW)
      strips.push(fill(`zoomed to pages ${first}–${end - 1}`, first, end - first, spans));
  }
  return { note: m.note, windowPages: m.windowPages, usedPages, strips };
}

/** Pages [first, first + pages) in MOMENT_COLUMNS columns (fewer if fewer pages), share in use. */
function fill(
  name: string,
  first: number,
  pages: number,
  spans: readonly [number, number][],
): DvmaMoment["strips"][number] {
  const cols = Math.min(MOMENT_COLUMNS, pages);
  const used = new Array<number>(cols).fill(0);
  const colOf = (page: number) => Math.floor(((page - first) * cols) / pages);
  const startOf = (c: number) => first + Math.ceil((c * pages) / cols);
  for (const [f, n] of spans) {
    // Pages [f, f + n) spread over the columns they cross.
    for (let p = f; p < f + n; ) {
      const c = colOf(p);
      const next = Math.min(f + n, startOf(c + 1));
      used[c]! += next - p;
      p = next;
    }
  }
  for (let c = 0; c < cols; c++) used[c] = round(used[c]! / (startOf(c + 1) - startOf(c)), 3);
  return { label: `${name}: ${pages} pages`, first, pages, used };
}
