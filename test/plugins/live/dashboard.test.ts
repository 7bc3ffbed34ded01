/**
 * The dashboard in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) watches a paced run, then starts one from the form. Skipped, saying so,
 * where Chromium is not installed (CI installs it).
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import type { LiveServer } from "../../../plugins/live/index.ts";
import {
  CHROMIUM,
  HAVE_CHROMIUM,
  launchChromium,
  OUT,
  watchedPage,
} from "../../helpers/browser.ts";
import { runShort, startLive } from "./helpers.ts";

const haveChromium = HAVE_CHROMIUM;
if (!haveChromium)
  console.warn(
    `dashboard browser test skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run does)`,
  );

/** The attribute as a number; 0 while the element is not there yet. */
const attr = async (page: Page, sel: string, name: string) =>
  Number(
    (await page
      .locator(sel)
      .first()
      .getAttribute(name, { timeout: 5_000 })
      .catch(() => null)) ?? 0,
  );

/** Waits until attribute `name` of `sel` is a number above `above`. */
async function waitAttr(page: Page, sel: string, name: string, above: number, ms = 30_000) {
  const deadline = performance.now() + ms; // host clock: test time limit
  while ((await attr(page, sel, name)) <= above) {
    if (performance.now() > deadline) throw new Error(`${sel} ${name} stayed <= ${above}`);
    await Bun.sleep(50);
  }
}

describe.skipIf(!haveChromium)("dashboard in headless Chromium", () => {
  let srv: LiveServer;
  let browser: Browser;
  beforeAll(async () => {
    srv = startLive();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
  });

  test("charts, DVMA map and event log follow a paced run; the form starts a run", async () => {
    const { page, errors, requests } = await watchedPage(browser, { width: 1400, height: 1000 });
    const failed: string[] = [];
    page.on("requestfailed", (r) => {
      // The event stream is cut when the page closes; anything else failing is a problem.
      if (!r.url().includes("/events")) failed.push(r.url());
    });
    await page.goto(srv.url);
    await page.locator("#type-filters input").first().waitFor();

    // 3 ms simulated at 1/500 of wall time: each path's run takes about 1.5 s.
    const run = runShort([srv], { duration: "3ms", pace: 0.002 });
    // Polled from here: the page's CSP forbids the eval a string predicate needs.
    await waitAttr(page, "#chart-throughput", "data-points", 5);
    // The series keep a bounded number of points, so redraws are counted, not points.
    const draws1 = await attr(page, "#chart-throughput", "data-draws");
    const maps1 = await attr(page, "#windows canvas", "data-updates");
    // Both redraw from /state as the run goes on (waits, not sleeps: CI machines are slow).
    await waitAttr(page, "#chart-throughput", "data-draws", draws1);
    await waitAttr(page, "#windows canvas", "data-updates", maps1);
    expect(await attr(page, "#chart-latency", "data-points")).toBeGreaterThan(0);
    expect(await attr(page, "#chart-cpu", "data-points")).toBeGreaterThan(0);
    expect(await attr(page, "#windows canvas", "data-owned")).toBeGreaterThan(0);
    await page.locator("#conn.on").waitFor({ timeout: 5_000 });
    await page.locator("#log li").nth(10).waitFor({ timeout: 5_000 });
    expect(await page.locator("#domains tbody tr").count()).toBe(3);
    await run;

    // Start a run from the form; its status comes back through /state.
    await page.selectOption("#run-form select", "default");
    await page.fill("#run-form input[name=duration]", "500us");
    await page.fill("#run-form input[name=seed]", "3");
    await page.click("#run-form button[type=submit]");
    await page.locator("#run-status", { hasText: ": done (" }).waitFor({ timeout: 10_000 });
    expect(srv.runs.get(1)?.report?.seed).toBe(3);
    expect(await page.locator("#results tbody tr").count()).toBeGreaterThan(0);
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: resolve(OUT, "dashboard.png"), fullPage: true });
    expect(errors).toEqual([]);
    expect(failed).toEqual([]);
    // No request may leave the server's origin (no CDN, no internet).
    expect(requests.filter((u) => !u.startsWith(srv.url) && !u.startsWith("data:"))).toEqual([]);

    // A refused run shows the server's reason (Chromium logs the 400 itself, so this comes last).
    await page.fill("#run-form input[name=duration]", "soon");
    await page.click("#run-form button[type=submit]");
    await page.locator("#run-status.error").waitFor({ timeout: 5_000 });
    expect(await page.locator("#run-status").textContent()).toContain("/duration");
    await page.close();
  }, 60_000);
});
