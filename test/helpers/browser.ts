import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { type Browser, chromium } from "playwright-core";

/** Debian's Chromium, which .ci/run installs; browser tests skip, saying so, without it. */
export const CHROMIUM = "/usr/bin/chromium";
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
/** Where tests leave screenshots and reports (git-ignored). */
export const OUT = resolve(import.meta.dir, "../../out");

/** Headless Chromium with no background traffic (the machine has no network beyond loopback). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A new page that records console errors, page errors and every request it makes. */
export async function watchedPage(browser: Browser, viewport = { width: 1300, height: 900 }) {
  const page = await browser.newPage({ viewport });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("request", (r) => requests.push(r.url()));
  return { page, errors, requests };
}
