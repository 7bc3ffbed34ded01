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
