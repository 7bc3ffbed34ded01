/** The feed's parts on their own: client queue, hub (ids, replay, JSON cache), filters, chart series. */

import { describe, expect, test } from "bun:test";
import { DomainCpu, type SimEvent, Simulator } from "../../../core/index.ts";
import { ClientQueue } from "../../../plugins/live/client-queue.ts";
import { FeedNotice } from "../../../plugins/live/feed-item.ts";
import { ALL_EVENTS, isFilterError, parseFilter } from "../../../plugins/live/filter.ts";
import { FeedHub } from "../../../plugins/live/hub.ts";
import { RunSeries } from "../../../plugins/live/series.ts";
import { sseStream } from "../../../plugins/live/sse.ts";

const ev = (t: number, domain = 1): SimEvent => ({
  type: "io.done",
  t,
  domain,
  path: "direct",
  op: "tx",
  bytes: 1500,
  latencyNs: 1000,
});

const drain = (q: ClientQueue) => {
  const out: number[] = [];
  q.take(Number.MAX_SAFE_INTEGER, (id) => out.push(id));
  return out;
};

describe("ClientQueue", () => {
  test("keeps the newest `capacity` items, counts the dropped ones, and notifies once per wait", () => {
    let notified = 0;
    const q = new ClientQueue("sse", 3, ALL_EVENTS, () => notified++);
    q.waiting = true;
    for (let i = 1; i <= 5; i++) q.offer(i, ev(i));
    expect(notified).toBe(1);
    expect(q.size).toBe(3);
    expect(q.dropped).toBe(2);
    expect(drain(q)).toEqual([3, 4, 5]);
    expect(q.delivered).toBe(3);
    q.offer(6, ev(6));
    expect(drain(q)).toEqual([6]);
  });

  test("filters by kind, domain (LDC: either end) and 1 in N; notices always pass", () => {
    const f = parseFilter(
      { types: "io.done,ldc.send", domain: "2", sample: "2" },
      ALL_EVENTS,
      true,
    );
    if (isFilterError(f)) throw new Error(f.error);
    const q = new ClientQueue("ws", 100, f, () => {});
    q.offer(1, ev(1, 2));
    q.offer(2, ev(2, 1)); // other domain
    q.offer(3, ev(3, 2)); // sampled out (2nd match)
    q.offer(4, { type: "ldc.send", t: 4, channel: 1, from: 0, to: 2, msg: "X", id: 1 });
    q.offer(5, { type: "hcall", t: 5, domain: 2, fn: "x", status: 0, count: 0, durNs: 0 });
    q.offer(6, new FeedNotice("run", {}));
    expect(drain(q)).toEqual([1, 4, 6]);
  });

  test("close frees the queue and wakes the consumer", () => {
    let woke = false;
    const q = new ClientQueue("sse", 4, ALL_EVENTS, () => (woke = true));
    q.offer(1, ev(1));
    q.close();
    expect([q.size, q.closed, woke]).toEqual([0, true, true]);
  });
});

describe("FeedHub", () => {
  test("ids increase across runs; JSON is built once and shared", () => {
    const hub = new FeedHub(10, 4);
    const a = new ClientQueue("sse", 10, ALL_EVENTS, () => {});
    const b = new ClientQueue("sse", 10, ALL_EVENTS, () => {});
    hub.attach(a);
    hub.attach(b);
    const e = ev(5);
    hub.publish(e);
    hub.publish(new FeedNotice("run", { run: 2 }));
    expect(hub.lastId).toBe(2);
    const ja = hub.json(1, e);
    expect(JSON.parse(ja)).toEqual(e);
    expect(hub.json(1, e)).toBe(ja);
    expect(hub.json(2, new FeedNotice("run", { run: 2 }))).toBe('{"run":2}');
    expect(drain(a)).toEqual([1, 2]);
    expect(drain(b)).toEqual([1, 2]);
    hub.detach(a);
    expect(hub.connected).toEqual([b]);
    expect(a.closed).toBe(true);
  });

  test("attach with a last id replays what is kept and counts what is not", () => {
    const hub = new FeedHub(5, 2);
    for (let t = 1; t <= 12; t++) hub.publish(ev(t));
    const q = new ClientQueue("sse", 100, ALL_EVENTS, () => {});
    hub.attach(q, 3);
    expect(q.dropped).toBe(4); // ids 4..7 left the buffer
    expect(drain(q)).toEqual([8, 9, 10, 11, 12]);
    const fresh = new ClientQueue("sse", 100, ALL_EVENTS, () => {});
    hub.attach(fresh, 12);
    expect(fresh.size).toBe(0);
    const none = new FeedHub(0, 2);
    none.publish(ev(1));
    const r = new ClientQueue("sse", 100, ALL_EVENTS, () => {});
    none.attach(r, 0);
    expect([r.size, r.dropped]).toEqual([0, 1]);
  });
});

describe("sseStream", () => {
  const text = (r: IteratorResult<{ toSSE(): string }>) => (r.done ? "" : r.value.toSSE());

  test("sends at once, then batches, a dropped notice first, and heartbeats when idle", async () => {
    const hub = new FeedHub(10, 4);
    const ac = new AbortController();
    const gen = sseStream(hub, {
      filter: ALL_EVENTS,
      capacity: 2,
      signal: ac.signal,
      heartbeatMs: 10,
    });
    expect(text(await gen.next())).toStartWith("retry: 1000\n");
    for (let t = 1; t <= 3; t++) hub.publish(ev(t));
    const batch = text(await gen.next());
    expect(batch).toStartWith(
      'event: dropped\ndata: {"dropped":1}\n\nid: 2\ndata: {"type":"io.done"',
    );
    expect(batch).toContain("\n\nid: 3\ndata: ");
    expect(text(await gen.next())).toBe("event: heartbeat\ndata: {}\n\n");
    hub.publish(new FeedNotice("result", { run: 1 }));
    expect(text(await gen.next())).toBe('id: 4\nevent: result\ndata: {"run":1}\n\n');
    // A disconnect while it waits ends the stream and frees the client at once.
    const waiting = gen.next();
    ac.abort();
    expect((await waiting).done).toBe(true);
    expect(hub.connected).toHaveLength(0);
  });
});

describe("parseFilter", () => {
  test("query strings and WebSocket messages; missing fields keep the current filter", () => {
    expect(parseFilter({ types: "", token: "x" }, ALL_EVENTS, true, ["token"])).toEqual(ALL_EVENTS);
    const f = parseFilter({ types: ["hcall"], domain: 3 }, ALL_EVENTS, false);
    expect(isFilterError(f)).toBe(false);
    const g = parseFilter({ domain: null, sample: 4 }, f as typeof ALL_EVENTS, false);
    expect(g).toEqual({ types: new Set(["hcall"]), domain: null, sample: 4 });
    expect(parseFilter({ types: null }, g as typeof ALL_EVENTS, false)).toMatchObject({
      types: null,
    });
  });

  test("errors name the field", () => {
    const bad: [Record<string, unknown>, boolean, string][] = [
      [{ types: "nope" }, true, "/types"],
      [{ types: [1] }, false, "/types"],
      [{ types: "hcall" }, false, "/types"],
      [{ domain: "1" }, false, "/domain"],
      [{ domain: "1e3" }, true, "/domain"],
      [{ domain: null }, true, "/domain"],
      [{ sample: "0" }, true, "/sample"],
      [{ sample: 2_000_000 }, false, "/sample"],
      [{ token: "x" }, true, "/token"],
    ];
    for (const [input, text, path] of bad) {
      const r = parseFilter(input, ALL_EVENTS, text);
      expect(isFilterError(r) ? r.path : "accepted").toBe(path);
    }
  });
});

describe("RunSeries", () => {
  test("buckets throughput, latency and control CPU; merges to stay under its point budget", () => {
    const sim = new Simulator();
    const cpu = new DomainCpu(sim, 2);
    const s = new RunSeries();
    s.attach(cpu);
    s.record(5_000, 1250, 2_000); // bucket 0 (10 µs)
    const v = cpu.tryTake(0); // one strand busy for 10 µs
    sim.run(10_000);
    cpu.free(v);
    s.record(15_000, 1250, 4_000); // bucket 1: bucket 0 closes with 10 µs busy
    const p = s.points(20_000);
    expect(p).toHaveLength(2);
    expect(p[0]).toEqual({ tNs: 10_000, gbps: 1, latencyUs: 2, controlCpu: 0.5 });
    expect(p[1]!.tNs).toBe(20_000);
    expect(p[1]!.controlCpu).toBe(0);
    // Far later: buckets merge until the run fits, keeping totals.
    s.record(100_000_000, 0, 0);
    expect(s.bucketNs).toBeGreaterThan(10_000);
    const q = s.points(100_000_000);
    expect(q.length).toBeLessThanOrEqual(240);
    const bytes = q.reduce(
      (n, x, i) => n + (x.gbps * (x.tNs - (i === 0 ? 0 : q[i - 1]!.tNs))) / 8,
      0,
    );
    expect(Math.round(bytes)).toBe(2500);
  });
});
