import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { main } from "../../../../core/cli/main.ts";
import { htmlReport } from "../../../../core/harness/report/html-report.ts";
import { esc, niceTicks } from "../../../../core/harness/report/svg-charts.ts";
import { runScenario } from "../../../../core/harness/scenario/run-scenario.ts";
import { loadSpec } from "../../../../core/harness/scenario/spec.ts";
import { CHROMIUM, launchChromium, OUT, watchedPage } from "../../../helpers/browser.ts";

const REPO = resolve(import.meta.dir, "../../../..");
const SWEEP = "test/fixtures/scenarios/sweep.ts";
/** The fixture has 3 x 2 matrix points and one path. */
const POINTS = 6;
const PER_POINT = ["throughput", "latency", "cpu", "per-io", "dvma-map"];
const SWEEP_CHARTS = ["sweep-throughputGbps", "sweep-iops", "sweep-latencyUs.p50"];

async function sweepReport() {
  const spec = { target: SWEEP, cwd: REPO, sets: ['duration="200us"'], plugins: [] };
  const { raw, scn, table } = await loadSpec(spec);
  return htmlReport(runScenario(raw, scn, table), scn);
}

const count = (s: string, sub: string) => s.split(sub).length - 1;

describe("HTML report", () => {
  test("is one self-contained page: no URL, no external resource, same bytes each time", async () => {
    const html = await sweepReport();
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\ssrc=|url\(/i);
    expect(await sweepReport()).toBe(html);
  });

  test("has the scenario, the cost model, a table and charts per point, sweep curves", async () => {
    const html = await sweepReport();
    for (const text of ["fixture-sweep", "seed", "Cost model", "hcallTrapNs", "Sweep over"])
      expect(html).toContain(text);
    expect(count(html, "<table>")).toBe(POINTS + 1); // + the cost model
    for (const chart of PER_POINT) expect(count(html, `data-chart="${chart}"`)).toBe(POINTS);
    for (const chart of SWEEP_CHARTS) expect(count(html, `data-chart="${chart}"`)).toBe(1);
    const titled = html.match(/<svg [^>]*><title>[^<]+<\/title>/g) ?? [];
    expect(titled.length).toBe(count(html, "<svg ")); // every SVG opens with its title
  });

  test("chart helpers: round ticks from zero, escaped text", () => {
    expect(niceTicks(9.17)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.031)).toEqual([0, 0.01, 0.02, 0.03, 0.04]);
    expect(esc(`<a href="x">&'`)).toBe("&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  });

  test("--report writes the page", async () => {
    mkdirSync(OUT, { recursive: true });
    const file = resolve(OUT, "cli-report.html");
    let err = "";
    const code = await main(
      [SWEEP, "--duration", "100us", "--report", file, "--quiet", "--workers", "1"],
      { out: { write: () => 0 }, err: { write: (s: string) => (err += s) } },
    );
    expect({ code, err }).toEqual({ code: 0, err: "" });
    expect(await Bun.file(file).text()).toContain('data-chart="dvma-map"');
  });

  if (!existsSync(CHROMIUM))
    console.warn(
      `html-report: ${CHROMIUM} not found, skipping the browser check (apt-get install chromium)`,
    );

  test.skipIf(!existsSync(CHROMIUM))(
    "renders in headless Chromium: no console errors, no requests, every chart drawn",
    async () => {
      mkdirSync(OUT, { recursive: true });
      const file = resolve(OUT, "report.html");
      await Bun.write(file, await sweepReport());
      const browser = await launchChromium();
      try {
        const { page, errors, requests } = await watchedPage(browser);
        await page.goto(`file://${file}`);
        const charts = await page.$$eval("[data-chart]", (els) =>
          els.map((el) => ({
            chart: el.getAttribute("data-chart"),
            tag: el.tagName.toLowerCase(),
            title: el.querySelector("title")?.textContent ?? "",
            marks: el.querySelectorAll("rect, path, circle").length,
            width: el.getBoundingClientRect().width,
          })),
        );
        for (const name of [...PER_POINT, ...SWEEP_CHARTS]) {
          const found = charts.filter((c) => c.chart === name);
          expect({ name, found: found.length }).toEqual({
            name,
            found: name.startsWith("sweep-") ? 1 : POINTS,
          });
          for (const c of found) {
            expect(c.tag).toBe("svg");
            expect(c.title.length).toBeGreaterThan(0);
            expect(c.marks).toBeGreaterThan(0);
            expect(c.width).toBeGreaterThan(100);
          }
        }
        expect(errors).toEqual([]);
        expect(requests).toEqual([`file://${file}`]);
        await page.screenshot({ path: resolve(OUT, "report.png"), fullPage: true });
      } finally {
        await browser.close();
      }
    },
  );
});
