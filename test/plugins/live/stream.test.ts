/** The feed over real loopback sockets: SSE and WebSocket clients, filters, resume. */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { validateEvent } from "../../../core/model/events/schemas.ts";
import type { LiveServer } from "../../../plugins/live/index.ts";
import { eventsOf, readSse, runShort, type SseFrame, startLive, whileWatched } from "./helpers.ts";

type WsMessage = {
  id?: number;
  event?: { type: string; t: number; domain?: number };
  run?: unknown;
  result?: unknown;
  dropped?: number;
  filter?: unknown;
  error?: string;
  path?: string;
};

/** A WebSocket client that records every message; `next(pred)` waits for a matching one. */
async function wsClient(url: string) {
  const ws = new WebSocket(url);
  const messages: WsMessage[] = [];
  const waiters: (() => void)[] = [];
  ws.onmessage = (m) => {
    messages.push(JSON.parse(String(m.data)));
    for (const w of waiters.splice(0)) w();
  };
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  const next = async (pred: (m: WsMessage) => boolean, ms = 10_000) => {
    const deadline = performance.now() + ms; // host clock: test time limit
    for (;;) {
      const hit = messages.find(pred);
      if (hit !== undefined) return hit;
      if (performance.now() > deadline) throw new Error("timed out waiting for a message");
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  return { ws, messages, next };
}

const lastId = async (srv: LiveServer) =>
  ((await (await fetch(`${srv.url}state`)).json()) as { feed: { lastId: number } }).feed.lastId;

/** Checks ids increase and, between a run's `run` and `result` notices, `t` never goes back. */
function checkOrder(items: { id: number; kind: string; t?: number }[]): void {
  let prevId = 0;
  let prevT = -1;
  for (const it of items) {
    expect(it.id).toBeGreaterThan(prevId);
    prevId = it.id;
    if (it.kind === "run") prevT = -1;
    if (it.t !== undefined) {
      expect(it.t).toBeGreaterThanOrEqual(prevT);
      prevT = it.t;
    }
  }
}

describe("live feed over loopback sockets", () => {
  let srv: LiveServer;
  beforeAll(() => {
    // Queues big enough that nothing is dropped while the run goes as fast as it can.
    srv = startLive({ clientQueue: 500_000, replay: 500_000 });
  });
  afterAll(() => srv.stop());

  test("SSE and WebSocket clients get every event of a run, in order, identically", async () => {
    const sse = await fetch(`${srv.url}events`);
    const ws = await wsClient(`${srv.url.replace("http", "ws")}ws`);
    await ws.next((m) => m.filter !== undefined);
    await runShort([srv], { duration: "100us" });
    const end = await lastId(srv);
    const frames = await readSse(sse, (f) => f.some((x) => x.id === end));
    await ws.next((m) => m.id === end);
    ws.ws.close();

    const sseItems = frames
      .filter((f) => f.id !== undefined)
      .map((f) => ({
        id: f.id!,
        kind: f.event,
        t: f.event === "message" ? (f.data as { t: number }).t : undefined,
      }));
    checkOrder(sseItems);
    // Nothing lost: ids are consecutive from the first.
    expect(sseItems.at(-1)!.id - sseItems[0]!.id + 1).toBe(sseItems.length);
    expect(frames.some((f) => f.event === "dropped")).toBe(false);
    for (const e of eventsOf(frames)) expect(validateEvent(e.data)).toBe(true);
    const runs = frames.filter((f) => f.event === "run").length;
    expect(runs).toBeGreaterThan(0);
    expect(frames.filter((f) => f.event === "result").length).toBe(runs);

    const wsItems = ws.messages
      .filter((m) => m.id !== undefined)
      .map((m) => ({
        id: m.id!,
        kind: m.event ? "message" : m.run ? "run" : "result",
        t: m.event?.t,
      }));
    expect(wsItems).toEqual(sseItems);
  });

  test("filters: kinds, one domain, 1 in N", async () => {
    const all = fetch(`${srv.url}events?types=hcall`);
    const done = fetch(`${srv.url}events?types=io.done`);
    const dom = fetch(`${srv.url}events?domain=1`);
    const sampled = fetch(`${srv.url}events?types=hcall&sample=10`);
    const ws = await wsClient(`${srv.url.replace("http", "ws")}ws?types=io.done&domain=2`);
    const responses = await Promise.all([all, done, dom, sampled]);
    await runShort([srv], { duration: "100us" });
    const end = await lastId(srv);
    const [fAll, fDone, fDom, fSampled] = await Promise.all(
      responses.map((r) => readSse(r, (f: SseFrame[]) => f.some((x) => x.id === end))),
    );
    await ws.next((m) => m.id === end);
    ws.ws.close();

    const hcalls = eventsOf(fAll!);
    expect(hcalls.length).toBeGreaterThan(20);
    expect(hcalls.every((e) => e.data.type === "hcall")).toBe(true);
    const dones = eventsOf(fDone!);
    expect(dones.length).toBeGreaterThan(0);
    expect(dones.every((e) => e.data.type === "io.done")).toBe(true);
    const mine = eventsOf(fDom!);
    expect(mine.length).toBeGreaterThan(0);
    for (const e of mine) {
      const d = e.data as { domain?: number; from?: number; to?: number };
      expect(d.domain === 1 || d.from === 1 || d.to === 1).toBe(true);
    }
    // 1 in 10: the first of every ten matching events.
    const sample = eventsOf(fSampled!);
    expect(sample.map((e) => e.id)).toEqual(hcalls.filter((_, i) => i % 10 === 0).map((e) => e.id));
    const wsEvents = ws.messages.filter((m) => m.event !== undefined).map((m) => m.event!);
    expect(wsEvents.length).toBeGreaterThan(0);
    expect(wsEvents.every((e) => e.type === "io.done" && e.domain === 2)).toBe(true);
  });

  test("Last-Event-ID resumes right after the given id", async () => {
    await whileWatched(srv, () => runShort([srv], { duration: "50us" }));
    const end = await lastId(srv);
    const res = await fetch(`${srv.url}events`, { headers: { "last-event-id": String(end - 50) } });
    const frames = await readSse(res, (f) => f.some((x) => x.id === end));
    const ids = frames.filter((f) => f.id !== undefined).map((f) => f.id);
    expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => end - 49 + i));
  });

  test("WebSocket filter messages are validated; errors name the field", async () => {
    const ws = await wsClient(`${srv.url.replace("http", "ws")}ws`);
    const cases: [string, string][] = [
      [JSON.stringify({ types: ["dma.done", "bogus"] }), "/types"],
      [JSON.stringify({ types: "dma.done" }), "/types"],
      [JSON.stringify({ sample: 0 }), "/sample"],
      [JSON.stringify({ domain: "one" }), "/domain"],
      [JSON.stringify({ volume: 11 }), "/volume"],
      ["[1,2]", "/"],
      ["not json", "/"],
    ];
    for (const [msg, path] of cases) {
      const before = ws.messages.length;
      ws.ws.send(msg);
      const reply = await ws.next((m) => ws.messages.indexOf(m) >= before && m.error !== undefined);
      expect(reply.path).toBe(path);
    }
    ws.ws.send(JSON.stringify({ types: ["dvma.grant"], sample: 1 }));
    const ack = await ws.next((m) => m.filter !== undefined && ws.messages.indexOf(m) > 0);
    expect(ack.filter).toEqual({ types: ["dvma.grant"], domain: null, sample: 1 });
    await runShort([srv], { duration: "50us" });
    const end = await lastId(srv);
    await ws.next((m) => m.id === end);
    ws.ws.close();
    const kinds = new Set(ws.messages.filter((m) => m.event).map((m) => m.event!.type));
    expect([...kinds]).toEqual(["dvma.grant"]);
  });

  test("a WebSocket upgrade with a bad filter is refused with a 400", async () => {
    const res = await fetch(`${srv.url}ws?types=nope`, {
      headers: {
        upgrade: "websocket",
        connection: "upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { path: string }).path).toBe("/types");
  });
});

describe("resume beyond the replay buffer", () => {
  test("events that left the buffer are reported as dropped, then the kept ones follow", async () => {
    const srv = startLive({ replay: 100, clientQueue: 1000 });
    try {
      await whileWatched(srv, () => runShort([srv], { duration: "50us" }));
      const end = await lastId(srv);
      expect(end).toBeGreaterThan(300);
      const res = await fetch(`${srv.url}events`, { headers: { "last-event-id": "10" } });
      const frames = await readSse(res, (f) => f.some((x) => x.id === end));
      expect(frames[0]).toEqual({ id: undefined, event: "dropped", data: { dropped: end - 110 } });
      const ids = frames.slice(1).map((f) => f.id);
      expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => end - 99 + i));
    } finally {
      await srv.stop();
    }
  });
});
