/**
 * The loss policy of the feed. Unpaced runs: each client's queue holds `clientQueue` events;
 * when full the oldest simulation events are dropped and counted, and the client is told how
 * many before its next data; `run` and `result` notices are never dropped. Lossless clients
 * (`?lossless=1`, or every client while a paced run is on) lose nothing: the run waits.
 */

import { afterEach, describe, expect, test } from "bun:test";
import type { LiveServer } from "../../../plugins/live/index.ts";
import { readSse, runShort, type SseFrame, startLive } from "./helpers.ts";

const QUEUE = 64;
let srv: LiveServer | undefined;
afterEach(async () => {
  await srv?.stop();
  srv = undefined;
});

const call = (s: LiveServer, path: string, init?: RequestInit) =>
  s.app.handle(new Request(new URL(path, s.url).href, init));

/** Reads everything the stream holds, `gapMs` between reads, until `until` frames are in. */
async function readAll(res: Response, done: (f: SseFrame[]) => boolean) {
  return readSse(res, done, 120_000);
}

describe("live feed: loss policy", () => {
  test("a client that does not read loses the oldest events, is told the count, and gets every notice", async () => {
    srv = startLive({ clientQueue: QUEUE });
    const ac = new AbortController();
    const res = await call(srv, "/events", { signal: ac.signal });
    const report = await runShort([srv], { duration: "300us" });
    const runs = Object.keys(report.points[0]!.paths).length;
    expect(runs).toBeGreaterThan(1);
    const published = srv.runs.active === 0 ? await (await call(srv, "/state")).json() : null;
    const lastId = (published as { feed: { lastId: number } }).feed.lastId;
    const frames = await readAll(res, (f) => f.some((x) => x.id === lastId));
    ac.abort();
    const events = frames.filter((f) => f.event === "message");
    const dropped = frames
      .filter((f) => f.event === "dropped")
      .reduce((n, f) => n + (f.data as { dropped: number }).dropped, 0);
    expect(frames.filter((f) => f.event === "run")).toHaveLength(runs);
    expect(frames.filter((f) => f.event === "result")).toHaveLength(runs);
    expect(events.length).toBeLessThanOrEqual(QUEUE);
    expect(dropped).toBeGreaterThan(0);
    // Every event is either delivered or counted as dropped.
    expect(events.length + dropped + 2 * runs).toBe(lastId);
    // The kept events are the newest ones, in order.
    const ids = events.map((f) => f.id!);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  }, 180_000);

  test("?lossless=1: the run waits for a slow client, which gets every event and no dropped notice", async () => {
    srv = startLive({ clientQueue: QUEUE });
    const ac = new AbortController();
    expect((await call(srv, "/events?lossless=2")).status).toBe(400);
    const res = await call(srv, "/events?lossless=1", { signal: ac.signal });
    const hold = srv.hold(false);
    const run = runShort([srv], { duration: "200us", drain: hold.drain }).finally(hold.end);
    // Read slowly: the run must wait rather than drop.
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = "";
    let finished = false;
    run.then(() => (finished = true));
    let peak = 0;
    while (!finished) {
      await Bun.sleep(5);
      const { value } = await reader.read();
      text += typeof value === "string" ? value : dec.decode(value as Uint8Array);
      const s = (await (await call(srv, "/state")).json()) as {
        feed: { clients: { queued: number }[] };
      };
      peak = Math.max(peak, s.feed.clients[0]?.queued ?? 0);
    }
    const s = (await (await call(srv, "/state")).json()) as { feed: { lastId: number } };
    while (!text.includes(`id: ${s.feed.lastId}\n`)) {
      const { value } = await reader.read();
      text += typeof value === "string" ? value : dec.decode(value as Uint8Array);
    }
    ac.abort();
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual(Array.from({ length: s.feed.lastId }, (_, i) => i + 1));
    expect(text).not.toContain("event: dropped");
    if (process.env.LIVE_VERBOSE) console.error({ peak, lastId: s.feed.lastId });
  }, 180_000);
});
