import { describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { CHROMIUM, launchChromium, OUT, watchedPage } from "../../../helpers/browser.ts";
import { cli } from "../../../helpers/cli.ts";

/** default has 3 paths: throughput and latency charts, and one CPU chart per path. */
const CHARTS = [
  "ts-0-gbps",
  "ts-0-lat",
  "ts-0-cpu-direct",
  "ts-0-cpu-service-domain",
  "ts-0-cpu-bare-metal",
];

describe("HTML report: time series over simulated time (uPlot, inlined)", () => {
  mkdirSync(OUT, { recursive: true });
  const file = resolve(OUT, "report-time-series.html");
  const json = resolve(OUT, "report-time-series.json");

  test("collecting the series changes no figure of the report", async () => {
    const base = ["default", "--duration", "1ms", "--quiet", "--workers", "1"];
    const plain = resolve(OUT, "report-plain.json");
    expect((await cli(...base, "--out", plain)).code).toBe(0);
    expect((await cli(...base, "--out", json, "--report", file)).code).toBe(0);
    expect(await Bun.file(json).text()).toBe(await Bun.file(plain).text());
    const html = await Bun.file(file).text();
    expect(html).not.toMatch(/<link|<img|<iframe|\ssrc=/i);
    for (const id of CHARTS) expect(html).toContain(`data-chart="${id}"`);
  });

  test.skipIf(!Bun.file(CHROMIUM).size)(
    "renders in headless Chromium: every chart drawn, no errors, no requests; screenshot saved",
    async () => {
      const browser = await launchChromium();
      try {
        const { page, errors, requests } = await watchedPage(browser);
        await page.goto(`file://${file}`);
        const drawn = await page.$$eval(".ts", (els) =>
          els.map((el) => {
            const canvas = el.querySelector("canvas");
            const ctx = canvas?.getContext("2d");
            const px = ctx?.getImageData(0, 0, canvas!.width, canvas!.height).data ?? [];
            let inked = 0;
            for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) inked++;
            return {
              id: el.id,
              title: el.querySelector(".u-title")?.textContent ?? "",
              legend: el.querySelectorAll(".u-legend .u-series").length,
              inked,
            };
          }),
        );
        expect(drawn.map((d) => d.id)).toEqual(CHARTS);
        for (const d of drawn) {
          expect(d.title.length).toBeGreaterThan(0);
          expect(d.legend).toBeGreaterThan(1); // x plus at least one line
          expect(d.inked).toBeGreaterThan(500); // lines were drawn, not an empty canvas
        }
        expect(errors).toEqual([]);
        expect(requests).toEqual([`file://${file}`]);
        await page.locator("#ts-0-gbps").scrollIntoViewIfNeeded();
        await page.screenshot({ path: resolve(OUT, "report-time-series.png"), fullPage: false });
      } finally {
        await browser.close();
      }
    },
  );
});
