import type { PathMetrics } from "./report.ts";
import { figure, type OwnerStrip, ownerStrips } from "./svg-charts.ts";

/** Zoom into the used part of a window when it covers less than this fraction of it. */
const ZOOM_BELOW = 0.25;

/** Per path, a strip per root complex coloured by the owner of each DVMA page at run end. */
export function dvmaMaps(entries: [string, PathMetrics][]): string {
  const figs = entries.flatMap(([path, m]) => {
    if (m.dvmaMap === undefined || m.dvmaMap.length === 0) return [];
    const owners = Object.keys(m.cpu); // domain ids index cpu's keys (see PathMetrics.dvmaMap)
    const strips: OwnerStrip[] = [];
    for (const w of m.dvmaMap) {
      const used = w.runs.reduce((a, [o, n]) => a + (o >= 0 ? n : 0), 0);
      const rc = `root complex 0x${w.devhandle.toString(16)}`;
      strips.push({
        label: `${rc}: ${w.windowPages} pages, ${used} in use`,
        pages: w.windowPages,
        first: 0,
        runs: w.runs,
      });
      const zoom = usedExtent(w.runs);
      if (zoom !== undefined && zoom.pages < w.windowPages * ZOOM_BELOW)
        strips.push({
          label: `${rc}, zoomed to pages ${zoom.first}–${zoom.first + zoom.pages - 1}`,
          ...zoom,
        });
    }
    const title = `DVMA window owners at run end: ${path}`;
    return [figure(title, ownerStrips({ chart: "dvma-map", title, path, owners, strips }))];
  });
  return figs.length > 0 ? `<h3>DVMA windows</h3><div class="charts">${figs.join("")}</div>` : "";
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
