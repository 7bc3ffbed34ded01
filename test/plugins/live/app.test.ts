import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import { EVENT_TYPES, InputError, startService } from "../../../core/index.ts";
import live, { type LiveServer } from "../../../plugins/live/index.ts";
import {
  checkBind,
  isLoopback,
  type LiveOptions,
  LiveOptionsSchema,
} from "../../../plugins/live/options.ts";
import { eventsOf, readSse, runShort, startLive } from "./helpers.ts";

const TOKEN = "s3cret-s3cret-s3cret";
const call = (srv: LiveServer, path: string, init?: RequestInit) =>
  srv.app.handle(new Request(new URL(path, srv.url).href, init));
const post = (srv: LiveServer, body: unknown, headers: Record<string, string> = {}) =>
  call(srv, "/runs", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

describe("live: options", () => {
  test("loopback addresses are recognised", () => {
    for (const h of ["127.0.0.1", "127.8.9.10", "localhost", "::1", "[::1]", "LOCALHOST"])
      expect(isLoopback(h)).toBe(true);
    for (const h of ["0.0.0.0", "::", "192.168.1.2", "127.0.0.256", "10.0.0.1", "example.com"])
      expect(isLoopback(h)).toBe(false);
  });

  test("a non-loopback host without a token is an InputError saying why and how", () => {
    const base = Value.Default(LiveOptionsSchema, {}) as LiveOptions;
    expect(() => checkBind({ ...base, host: "0.0.0.0" })).toThrow(InputError);
    expect(() => checkBind({ ...base, host: "0.0.0.0" })).toThrow(/without a token.*--token/s);
    expect(() => checkBind({ ...base, host: "0.0.0.0", token: "t".repeat(16) })).not.toThrow();
    // Starting the server refuses before binding anything.
    expect(() =>
      startService(live, { ...base, host: "0.0.0.0", port: 0, replay: 10, clientQueue: 10 }),
    ).toThrow(InputError);
  });

  test("defaults", () => {
    const d = LiveOptionsSchema.properties;
    expect([d.port.default, d.host.default, d.replay.default, d.clientQueue.default]).toEqual([
      8787,
      "127.0.0.1",
      10_000,
      4096,
    ]);
    expect([d.maxRuns.default, d.maxBodyBytes.default]).toEqual([2, 16 * 1024]);
  });
});

describe("live: endpoints (app.handle)", () => {
  let srv: LiveServer;
  beforeAll(() => {
    srv = startLive({ maxBodyBytes: 512 });
  });
  afterAll(() => srv.stop());

  test("GET / serves the dashboard; its assets come from the app itself", async () => {
    const res = await call(srv, "/");
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('src="/assets/app.js"');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    for (const [file, type] of [
      ["app.js", "javascript"],
      ["charts.js", "javascript"],
      ["style.css", "css"],
    ]) {
      const a = await call(srv, `/assets/${file}`);
      expect(a.status).toBe(200);
      expect(a.headers.get("content-type")).toContain(type);
      expect(await a.text()).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    }
    for (const bad of ["index.ts", "constructor", "__proto__"])
      expect((await call(srv, `/assets/${bad}`)).status).toBe(404);
    expect((await call(srv, "/assets/..%2Findex.ts")).status).toBe(404);
  });

  test("GET /events: unknown kinds are a 400 naming /types and the allowed kinds", async () => {
    const res = await call(srv, "/events?types=dma.done,dma.bogus");
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; path: string };
    expect(body.path).toBe("/types");
    expect(body.error).toContain('"dma.bogus"');
    for (const k of EVENT_TYPES) expect(body.error).toContain(k);
  });

  test("GET /events: bad domain, sample, unknown parameter and Last-Event-ID are 400s with paths", async () => {
    const cases: [string, string, RequestInit?][] = [
      ["/events?domain=x", "/domain"],
      ["/events?domain=-1", "/domain"],
      ["/events?sample=0", "/sample"],
      ["/events?sample=1.5", "/sample"],
      ["/events?type=hcall", "/type"],
      ["/events", "/headers/last-event-id", { headers: { "last-event-id": "abc" } }],
    ];
    for (const [path, field, init] of cases) {
      const res = await call(srv, path, init);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { path: string }).path).toBe(field);
    }
  });

  test("GET /events streams typed events with ids; a cancelled stream frees its client", async () => {
    const ac = new AbortController();
    const res = await call(srv, "/events?types=io.done,dvma.grant", { signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const run = runShort([srv], { duration: "200us" });
    const frames = await readSse(res, (f) => eventsOf(f).length >= 20);
    ac.abort();
    await run;
    const events = eventsOf(frames);
    expect(events.length).toBeGreaterThanOrEqual(20);
    for (const e of events) expect(["io.done", "dvma.grant"]).toContain(e.data.type);
    expect(frames.find((f) => f.event === "run")).toBeDefined();
    await Bun.sleep(20);
    const state = (await (await call(srv, "/state")).json()) as { feed: { clients: unknown[] } };
    expect(state.feed.clients).toHaveLength(0);
  });

  test("GET /state: domains, grants, windows with an RLE owner map, IOMMU stats, results", async () => {
    await runShort([srv], { duration: "200us" });
    const s = (await (await call(srv, "/state")).json()) as Record<string, never>;
    const st = s as unknown as {
      run: { done: boolean; nowNs: number };
      domains: { name: string; role: string; alive: boolean; cpu: number; grants: unknown[] }[];
      windows: {
        windowPages: number;
        ownedEntries: number;
        validTtes: number;
        owners: [number, number][];
        iotlb: { hits: number; misses: number; invalidations: number };
      }[];
      results: { metrics: { ios: number } }[];
      series: { points: unknown[] }[];
      feed: { lastId: number; eventTypes: string[] };
    };
    expect(st.run.done).toBe(true);
    expect(st.run.nowNs).toBe(200_000);
    expect(st.domains.map((d) => d.role)).toContain("control");
    expect(st.domains.some((d) => d.role === "guest" && d.grants.length > 0)).toBe(true);
    const w = st.windows[0]!;
    expect(w.owners.reduce((n, [, len]) => n + len, 0)).toBe(w.windowPages);
    expect(w.owners.filter(([o]) => o >= 0).reduce((n, [, l]) => n + l, 0)).toBe(w.ownedEntries);
    expect(w.ownedEntries).toBeGreaterThan(0);
    expect(w.iotlb.hits + w.iotlb.misses).toBeGreaterThan(0);
    expect(st.results.length).toBeGreaterThan(0);
    expect(st.results.at(-1)!.metrics.ios).toBeGreaterThan(0);
    expect(st.series.at(-1)!.points.length).toBeGreaterThan(0);
    expect(st.feed.eventTypes).toEqual(EVENT_TYPES);
  });

  test("GET /scenarios lists built-in names with descriptions", async () => {
    const list = (await (await call(srv, "/scenarios")).json()) as {
      name: string;
      description: string;
    }[];
    const def = list.find((s) => s.name === "default");
    expect(def?.description.length).toBeGreaterThan(0);
  });

  test("POST /runs: bad parameters are 400s naming the field", async () => {
    const cases: [unknown, string][] = [
      [{}, "/scenario"],
      [{ scenario: 3 }, "/scenario"],
      [{ scenario: "nope" }, "/scenario"],
      [{ scenario: "../core/index" }, "/scenario"],
      [{ scenario: "default", seed: -1 }, "/seed"],
      [{ scenario: "default", seed: 1.5 }, "/seed"],
      [{ scenario: "default", duration: "soon" }, "/duration"],
      [{ scenario: "default", duration: 0 }, "/duration"],
      [{ scenario: "default", set: ["cost.nope=1"] }, "/set"],
      [{ scenario: "default", set: "x=1" }, "/set"],
      [{ scenario: "default", pace: 0 }, "/pace"],
      [{ scenario: "default", colour: "red" }, "/colour"],
      ["{not json", "/"],
      [[], "/"],
    ];
    for (const [body, path] of cases) {
      const res = await post(srv, body);
      const out = (await res.json()) as { error: string; path: string };
      expect({ body, status: res.status, path: out.path }).toEqual({ body, status: 400, path });
      expect(out.error.length).toBeGreaterThan(0);
    }
  });

  test("POST /runs: a body over maxBodyBytes is a 413, declared or streamed", async () => {
    const big = JSON.stringify({ scenario: "default", set: ["x=".padEnd(600, "y")] });
    expect((await post(srv, big)).status).toBe(413);
    const chunks = new ReadableStream({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(new TextEncoder().encode("x".repeat(100)));
        c.close();
      },
    });
    const res = await call(srv, "/runs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chunks,
    });
    expect(res.status).toBe(413);
  });

  test("GET /openapi.json documents every route from its schemas; /health and /metrics answer", async () => {
    const doc = (await (await call(srv, "/openapi.json")).json()) as {
      paths: Record<string, Record<string, { requestBody?: unknown; summary?: string }>>;
    };
    for (const [path, method] of [
      ["/events", "get"],
      ["/state", "get"],
      ["/health", "get"],
      ["/metrics", "get"],
      ["/scenarios", "get"],
      ["/runs", "post"],
      ["/runs/{id}", "get"],
      ["/runs/{id}", "delete"],
      ["/runs/{id}/{file}", "get"],
    ] as const)
      expect({ path, method, summary: doc.paths[path]?.[method]?.summary !== undefined }).toEqual({
        path,
        method,
        summary: true,
      });
    const body = JSON.stringify(doc.paths["/runs"]!.post!.requestBody);
    for (const field of ["scenario", "seed", "duration", "set", "pace", "trace"])
      expect(body).toContain(`"${field}"`);
    const health = (await (await call(srv, "/health")).json()) as { status: string };
    expect(health.status).toBe("ok");
    const metrics = await call(srv, "/metrics");
    expect(metrics.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    const text = await metrics.text();
    for (const name of [
      "live_runs_total",
      "live_runs_active",
      "live_client_delivered_total",
      "live_client_dropped_total",
      "live_client_queue_depth",
    ])
      expect(text).toContain(`# TYPE ${name} `);
  });

  test("a query longer than the limit is a 413", async () => {
    expect((await call(srv, `/events?types=${"hcall,".repeat(1000)}`)).status).toBe(413);
  });

  test("POST /runs starts a run; GET /runs/:id gives its status and report", async () => {
    const res = await post(srv, { scenario: "default", duration: "100us", seed: 7 });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: number };
    await srv.runs.settled(id);
    const rec = (await (await call(srv, `/runs/${id}`)).json()) as {
      status: string;
      runs: number[];
      report: { seed: number; durationNs: number; points: unknown[] };
    };
    expect(rec.status).toBe("done");
    expect(rec.report.seed).toBe(7);
    expect(rec.report.durationNs).toBe(100_000);
    expect(rec.runs.length).toBeGreaterThan(0);
    for (const [file, type] of [
      ["report.json", "application/json"],
      ["report.csv", "text/csv"],
      ["report.html", "text/html"],
    ]) {
      const d = await call(srv, `/runs/${id}/${file}`);
      expect({ file, status: d.status }).toEqual({ file, status: 200 });
      expect(d.headers.get("content-type")).toContain(type);
      expect(d.headers.get("content-disposition")).toContain("attachment");
    }
    expect((await call(srv, `/runs/${id}/trace.json`)).status).toBe(404);
    expect((await call(srv, `/runs/${id}/secrets.txt`)).status).toBe(404);
    const traced = (await (
      await post(srv, { scenario: "default", duration: "50us", trace: true })
    ).json()) as { id: number };
    await srv.runs.settled(traced.id);
    const trace = await call(srv, `/runs/${traced.id}/trace.json`);
    expect(trace.status).toBe(200);
    expect(((await trace.json()) as { traceEvents: unknown[] }).traceEvents.length).toBeGreaterThan(
      0,
    );
    expect((await call(srv, "/runs/999")).status).toBe(404);
    expect((await call(srv, "/runs/abc")).status).toBe(404);
  });
});

describe("live: limits and token", () => {
  test("more concurrent runs than maxRuns is a 429", async () => {
    const srv = startLive({ maxRuns: 1 });
    try {
      const slow = { scenario: "default", duration: "10ms", pace: 0.001 };
      expect((await post(srv, slow)).status).toBe(202);
      const res = await post(srv, slow);
      expect(res.status).toBe(429);
      expect(((await res.json()) as { error: string }).error).toContain("maxRuns");
    } finally {
      await srv.stop();
    }
    expect(srv.runs.get(1)?.status).toBe("stopped");
  });

  test("with a token, every endpoint but the static assets answers 401 without it", async () => {
    const srv = startLive({ token: TOKEN });
    try {
      for (const [path, method] of [
        ["/", "GET"],
        ["/events", "GET"],
        ["/state", "GET"],
        ["/scenarios", "GET"],
        ["/runs/1", "GET"],
        ["/runs", "POST"],
        ["/ws", "GET"],
      ] as const) {
        const res = await call(srv, path, { method });
        expect({ path, status: res.status }).toEqual({ path, status: 401 });
        expect(res.headers.get("www-authenticate")).toBe("Bearer");
      }
      expect((await call(srv, "/state?token=wrong")).status).toBe(401);
      expect(
        (await call(srv, "/state", { headers: { authorization: "Bearer wrong" } })).status,
      ).toBe(401);
      expect((await call(srv, `/state?token=${TOKEN}`)).status).toBe(200);
      expect(
        (await call(srv, "/state", { headers: { authorization: `Bearer ${TOKEN}` } })).status,
      ).toBe(200);
      expect((await call(srv, "/assets/app.js")).status).toBe(200);
      // The WebSocket upgrade over a real socket is refused too.
      const res = await fetch(`${srv.url}ws`, {
        headers: {
          upgrade: "websocket",
          connection: "upgrade",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
          "sec-websocket-version": "13",
        },
      });
      expect(res.status).toBe(401);
    } finally {
      await srv.stop();
    }
  });
});
