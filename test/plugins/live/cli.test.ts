/** `bun run scenario --serve`: flags, the URL on stderr, serving after the run until a signal. */

import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { cli } from "../../helpers/cli.ts";

const MAIN = resolve(import.meta.dir, "../../../core/cli/main.ts");

/** Reads `stream` until `pattern` matches what has arrived; returns the match. */
async function waitFor(
  stream: { read(): Promise<{ done: boolean; value?: string }> },
  seen: { text: string },
  pattern: RegExp,
): Promise<RegExpMatchArray> {
  for (;;) {
    const m = seen.text.match(pattern);
    if (m) return m;
    const { done, value } = await stream.read();
    if (done) throw new Error(`stream ended before ${pattern}: ${seen.text}`);
    seen.text += value;
  }
}

describe("bun run scenario --serve", () => {
  test("bad --serve flag values exit 2 with a message", async () => {
    const cases: [string[], RegExp][] = [
      [["--serve", "--port", "70000"], /--port "70000": expected a whole number from 0 to 65535/],
      [["--serve", "--port", "http"], /--port "http"/],
      [["--serve", "--pace", "0"], /--pace "0": expected a number > 0/],
      [["--serve", "--pace", "fast"], /--pace "fast"/],
      [["--serve", "--host", "0.0.0.0"], /refusing to serve on 0\.0\.0\.0 without a token/],
      [["--serve", "--token="], /plugin "live" option \/token/],
      [["--port", "9000"], /--port only applies with --serve/],
      [["--pace", "1"], /--pace only applies with --serve/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli("default", "--duration", "100us", ...argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.err).toMatch(message);
    }
  });

  test("prints the URL, serves during and after the run, stops on SIGTERM", async () => {
    const proc = Bun.spawn(
      ["bun", MAIN, "default", "--duration", "200us", "--serve", "--port", "0", "--pace", "0.01"],
      { stdout: "pipe", stderr: "pipe" },
    );
    try {
      const err = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
      const seen = { text: "" };
      const [, url] = await waitFor(err, seen, /live: serving on (http:\/\/127\.0\.0\.1:\d+\/)/);
      const state = await fetch(`${url}state`);
      expect(state.status).toBe(200);
      await waitFor(err, seen, /runs done; still serving/);
      const after = (await (await fetch(`${url}state`)).json()) as {
        results: unknown[];
        run: { done: boolean };
      };
      expect(after.run.done).toBe(true);
      expect(after.results.length).toBeGreaterThan(0);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      const out = await new Response(proc.stdout).text();
      expect(out).toMatch(/direct\s+\d+\.\d+/);
      await expect(fetch(`${url}state`)).rejects.toThrow();
    } finally {
      proc.kill();
    }
  }, 30_000);
});
