import { describe, expect, test } from "bun:test";
import { dvmaMaps, dvmaMoment, MOMENT_COLUMNS } from "../../../../core/harness/report/dvma-maps.ts";
import type { PathMetrics } from "../../../../core/harness/report/report.ts";

/** A DVMA window at a moment a workload chose, kept as a picture of bounded size and drawn. */
describe("DVMA moment", () => {
  test("each column holds the share of its pages in use; the used part is zoomed when small", () => {
    // A comb: pages 1000, 1002, ..., 2998 in use (1,000 one-page mappings) in a 100,000-page window.
    const ranges: number[] = [];
    for (let p = 1000; p < 3000; p += 2) ranges.push(p, 1);
    const m = dvmaMoment({ note: "slowest map", windowPages: 100_000, ranges });
    expect(m.usedPages).toBe(1000);
    expect(m.strips.map((s) => [s.label, s.first, s.pages, s.used.length])).toEqual([
      ["window: 100000 pages", 0, 100_000, MOMENT_COLUMNS],
      ["zoomed to pages 1000–2998: 1999 pages", 1000, 1999, MOMENT_COLUMNS],
    ]);
    // Every page counted once: the shares times the column sizes add up to the pages in use.
    const zoom = m.strips[1]!;
    const size = (c: number) =>
      Math.ceil(((c + 1) * zoom.pages) / MOMENT_COLUMNS) -
      Math.ceil((c * zoom.pages) / MOMENT_COLUMNS);
    const total = zoom.used.reduce((a, u, c) => a + u * size(c), 0);
    expect(Math.abs(total - 1000)).toBeLessThan(1);
    for (const u of zoom.used) expect(u).toBeGreaterThan(0.3); // a comb, not solid nor empty
    for (const u of zoom.used) expect(u).toBeLessThan(0.7);
    // Pages in use spread over most of the window: no zoom. A window smaller than the columns: one per page.
    expect(dvmaMoment({ note: "x", windowPages: 100, ranges: [0, 10, 90, 10] }).strips).toEqual([
      {
        label: "window: 100 pages",
        first: 0,
        pages: 100,
        used: Array.from({ length: 100 }, (_, i) => (i < 10 || i >= 90 ? 1 : 0)),
      },
    ]);
  });

  test("is drawn as strips of shaded columns, one rect per run of one shade", () => {
    const m = dvmaMoment({ note: "slowest map (9 µs)", windowPages: 100, ranges: [0, 10, 90, 10] });
    const html = dvmaMaps([["direct", { cpu: {}, dvmaMoments: [m] } as unknown as PathMetrics]]);
    expect(html).toContain('data-chart="dvma-moment"');
    expect(html).toContain("DVMA pages in use at the slowest map (9 µs): direct");
    expect(html.match(/fill-opacity="1"/g)).toHaveLength(2); // pages 0–9 and 90–99
    expect(html).toContain("<title>pages 90–99: 100% in use</title>");
  });
});
