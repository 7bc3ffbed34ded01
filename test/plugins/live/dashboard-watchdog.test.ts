/**
 * The dashboard when things go wrong, in headless Chromium: a stream that goes silent is called
 * stalled within two heartbeats and reopened; a server that goes away is reported on the status
 * line without console errors from the page; and the layout works on a 375 px wide phone
 * (screenshot in out/dashboard-375.png).
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import {
  CHROMIUM,
  HAVE_CHROMIUM,
  launchChromium,
  OUT,
  watchedPage,
} from "../../helpers/browser.ts";
import { runShort, startLive } from "./helpers.ts";

if (!HAVE_CHROMIUM) console.warn(`dashboard watchdog test skipped: ${CHROMIUM} is missing`);

const HEARTBEAT_MS = 400;

/**
 * A pass-through proxy in front of the live server whose event streams can be frozen: the
 * connection stays open and nothing more arrives (what a buffering proxy or a suspended
 * network does).
 */
function freezingProxy(target: string) {
  const state = { frozen: false, streams: 0 };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      const headers = new Headers();
      for (const h of ["accept", "content-type", "last-event-id"]) {
        const v = req.headers.get(h);
        if (v !== null) headers.set(h, v);
      }
      const up = await fetch(new URL(url.pathname + url.search, target), {
        method: req.method,
        headers,
        body: req.method === "GET" ? undefined : await req.arrayBuffer(),
      });
      if (!url.pathname.startsWith("/events")) return up;
      state.streams++;
      const reader = up.body!.getReader();
      const body = new ReadableStream({
        async pull(c) {
          while (state.frozen) await Bun.sleep(20);
          const { done, value } = await reader.read();
          if (done) c.close();
          else c.enqueue(value);
        },
        cancel: () => reader.cancel(),
      });
      return new Response(body, { status: up.status, headers: up.headers });
    },
  });
  return { server, state, url: `http://127.0.0.1:${server.port}/` };
}

/** Polls until the status line matches `re`, or throws after `ms`. */
async function statusMatches(page: Page, re: RegExp, ms = 20_000): Promise<string> {
  const deadline = performance.now() + ms; // host clock: test time limit
  for (;;) {
    const text = (await page.locator("#status").textContent()) ?? "";
    if (re.test(text)) return text;
    if (performance.now() > deadline) throw new Error(`status "${text}" never matched ${re}`);
    await Bun.sleep(50);
  }
}

describe.skipIf(!HAVE_CHROMIUM)("dashboard: watchdog, server away, 375 px", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(() => browser?.close());

  test("a silent stream is stalled after two heartbeats, reopened, and live again", async () => {
    const srv = startLive({ heartbeatMs: HEARTBEAT_MS });
    const proxy = freezingProxy(srv.url);
    const page = await browser.newPage();
    try {
      await page.goto(proxy.url);
      await page.locator("#conn.on").waitFor({ timeout: 20_000 });
      await statusMatches(page, /idle/);
      const streams = proxy.state.streams;
      proxy.state.frozen = true;
      const t0 = performance.now(); // host clock: how soon the watchdog fires
      await page.locator("#conn", { hasText: "stalled" }).waitFor({ timeout: 20_000 });
      await statusMatches(page, /stalled/);
      // Not before two heartbeats.
      expect(performance.now() - t0).toBeGreaterThan(2 * HEARTBEAT_MS - 100);
      proxy.state.frozen = false;
      await page.locator("#conn.on").waitFor({ timeout: 20_000 });
      expect(proxy.state.streams).toBeGreaterThan(streams);
      await statusMatches(page, /^(?!.*stalled)/);
    } finally {
      await page.close();
      proxy.server.stop(true);
      await srv.stop();
    }
  }, 120_000);

  test("while the server is away: the status line says so, the page logs no errors", async () => {
    const srv = startLive({ heartbeatMs: HEARTBEAT_MS });
    const { page, errors } = await watchedPage(browser);
    try {
      await page.goto(srv.url);
      await page.locator("#conn.on").waitFor({ timeout: 20_000 });
      await srv.stop();
      await statusMatches(page, /unreachable/);
      await Bun.sleep(3_000);
      // Chromium itself reports each refused connection; those are the network's, not the page's.
      expect(
        errors.filter((e) => !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(e)),
      ).toEqual([]);
    } finally {
      await page.close();
    }
  }, 120_000);

  test("at 375 px nothing is clipped; the form's defaults run the default scenario", async () => {
    const srv = startLive();
    const page = await browser.newPage({ viewport: { width: 375, height: 800 } });
    try {
      await page.goto(srv.url);
      await page
        .locator("#run-form option")
        .first()
        .waitFor({ state: "attached", timeout: 20_000 });
      expect(await page.locator("#run-form select").inputValue()).toBe("default");
      await runShort([srv], { duration: "200us" });
      await page.locator("#chart-throughput canvas").first().waitFor({ timeout: 20_000 });
      const width = Number(await page.evaluate("document.documentElement.scrollWidth"));
      expect(width).toBeLessThanOrEqual(375);
      for (const sel of ["#chart-throughput", "#chart-latency", "#chart-cpu", "#windows canvas"]) {
        const box = await page.locator(sel).first().boundingBox();
        expect({ sel, right: (box?.x ?? 0) + (box?.width ?? 0) <= 375 }).toEqual({
          sel,
          right: true,
        });
      }
      // The form's defaults start the default scenario (shortened here so the test is quick).
      await page.fill("#run-form input[name=duration]", "200us");
      await page.click("#run-form button[type=submit]");
      await page.locator("#run-status", { hasText: ": done (" }).waitFor({ timeout: 30_000 });
      expect(srv.runs.get(1)?.request.scenario).toBe("default");
      mkdirSync(OUT, { recursive: true });
      await page.screenshot({ path: resolve(OUT, "dashboard-375.png"), fullPage: true });
    } finally {
      await page.close();
      await srv.stop();
    }
  }, 120_000);
});
