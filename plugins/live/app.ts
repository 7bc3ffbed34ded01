/**
 * The live server's Elysia app: the event feed (SSE and WebSocket), the state snapshot, the
 * scenario list and runs, and the dashboard. Every route except the static assets checks the
 * token when one is set; query strings and bodies have size limits.
 */

import { dirname, resolve } from "node:path";
import { openapi } from "@elysiajs/openapi";
import type { ServerWebSocket } from "bun";
import { Elysia, status, t } from "elysia";
import {
  EVENT_TYPES,
  htmlReport,
  type Report,
  reportCsv,
  reportJson,
  type Scenario,
} from "../../core/index.ts";
import type { Catalogue } from "./catalogue.ts";
import {
  ALL_EVENTS,
  type FeedFilter,
  type FilterError,
  filterJson,
  isFilterError,
  parseFilter,
} from "./filter.ts";
import {
  hasToken,
  json,
  MAX_QUERY_BYTES,
  originProblem,
  readBody,
  SECURITY_HEADERS,
} from "./http.ts";
import type { FeedHub } from "./hub.ts";
import { METRICS_CONTENT_TYPE, metricsText } from "./metrics.ts";
import { type LiveObserver, seriesOf, summary } from "./observer.ts";
import type { LiveOptions } from "./options.ts";
import { RunRequestSchema } from "./run-request.ts";
import { type RunRecord, type RunRegistry, summaryOf } from "./runs.ts";
import { sseStream } from "./sse.ts";
import { domainsState, windowsState } from "./state.ts";
import { WsFeed } from "./ws-feed.ts";

const DASHBOARD = resolve(import.meta.dir, "dashboard");
/** Files under dashboard/ the app serves (nothing else is reachable). */
const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";
/** uPlot (npm `uplot`), served from the installed package: no CDN. */
const UPLOT = dirname(Bun.resolveSync("uplot", import.meta.dir));
const ASSETS = new Map([
  ["app.js", { file: resolve(DASHBOARD, "app.js"), type: JS }],
  ["charts.js", { file: resolve(DASHBOARD, "charts.js"), type: JS }],
  ["style.css", { file: resolve(DASHBOARD, "style.css"), type: CSS }],
  ["uPlot.esm.js", { file: resolve(UPLOT, "uPlot.esm.js"), type: JS }],
  ["uPlot.min.css", { file: resolve(UPLOT, "uPlot.min.css"), type: CSS }],
]);
/** The feed's query: filters (checked by parseFilter, which names the field at fault) and modes. */
const FeedQuery = t.Object(
  {
    types: t.Optional(
      t.Union([t.String(), t.Array(t.String())], { description: "comma list of event kinds" }),
    ),
    domain: t.Optional(t.String({ description: "domain id: events of that domain only" })),
    sample: t.Optional(t.String({ description: "keep 1 event in N" })),
    lossless: t.Optional(
      t.String({ description: "1: the runs wait for this client rather than drop its events" }),
    ),
    token: t.Optional(t.String({ description: "the server's token, when it has one" })),
  },
  { additionalProperties: true },
);
const RunParams = t.Object({ id: t.String({ description: "run id from POST /runs" }) });

/** Thrown by the body parser; Elysia hands it to onError as the cause of a PARSE error. */
class BodyRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

/** What a refused request gets: the reason and the JSON pointer of the field at fault. */
const Refusal = t.Object({ error: t.String(), path: t.String() });
const REFUSALS = { 400: Refusal, 413: Refusal, 415: Refusal, 429: Refusal };

/** A finished run's report, downloadable as GET /runs/:id/report.json (.csv, .html). */
const DOWNLOADS = {
  "report.json": { type: "application/json; charset=utf-8", body: (r: Report) => reportJson(r) },
  "report.csv": { type: "text/csv; charset=utf-8", body: (r: Report) => reportCsv(r) },
  "report.html": {
    type: "text/html; charset=utf-8",
    body: (r: Report, scn: Scenario) => htmlReport(r, scn),
  },
} as const;
function attachment(body: string, type: string, id: number, file: string): Response {
  return new Response(body, {
    headers: {
      "content-type": type,
      "content-disposition": `attachment; filename="run-${id}-${file}"`,
    },
  });
}

/** Bytes a WebSocket may have waiting to be sent before its feed pauses. */
const WS_BUFFER_BYTES = 1 << 20;
/** Runs whose chart series /state returns. */
const SERIES_RUNS = 8;

export interface LiveParts {
  hub: FeedHub;
  observer: LiveObserver;
  registry: RunRegistry;
  options: LiveOptions;
  catalogue: Promise<Catalogue>;
  /** Host values and Origins the server answers to (filled in once the port is known). */
  hosts: Set<string>;
  origins: Set<string>;
}

/** Query parameters as one record; a repeated `types` is joined, other repeats keep the last. */
function queryOf(url: URL): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of url.searchParams) out[k] = k === "types" && k in out ? `${out[k]},${v}` : v;
  return out;
}

function filterFrom(url: URL): FeedFilter | FilterError {
  return parseFilter(queryOf(url), ALL_EVENTS, true, ["token", "lossless"]);
}

/** `?lossless=1`: the runs wait for this client instead of dropping its events (0 or absent: they may drop). */
function losslessFrom(url: URL): boolean | FilterError {
  const v = url.searchParams.get("lossless");
  if (v === null || v === "0") return false;
  if (v === "1") return true;
  return { error: "lossless: expected 0 or 1", path: "/lossless" };
}

export function createApp(parts: LiveParts) {
  const { hub, observer, registry, options, hosts, origins } = parts;
  const feeds = new Map<object, WsFeed>();

  const app = new Elysia({
    // Bodies are validated as sent: an unknown field is an error, not silently dropped.
    normalize: false,
    websocket: {
      maxPayloadLength: options.maxBodyBytes,
      idleTimeout: 120,
      // What one socket may hold unsent; beyond it sends report backpressure (the queue drops).
      backpressureLimit: WS_BUFFER_BYTES,
      closeOnBackpressureLimit: false,
    },
  })
    .use(
      openapi({
        provider: null,
        path: "/openapi",
        specPath: "/openapi.json",
        documentation: {
          info: {
            title: "sun4v-dvma live",
            version: "1.0.0",
            description: "Live feed, state, runs and downloads of the sun4v-dvma simulator",
          },
        },
      }),
    )
    .onError(({ code, error }) => {
      // A schema problem is a 400 naming the field, like every other refusal.
      if (code === "VALIDATION") {
        const first = error.all[0] as { path?: string; message?: string } | undefined;
        const path = first?.path || "/";
        return json(400, { error: `${path}: ${first?.message ?? "invalid"}`, path });
      }
      if (code === "PARSE") {
        const c = error.cause;
        return c instanceof BodyRefused
          ? json(c.status, { error: c.message, path: c.path })
          : json(400, { error: "body is not JSON", path: "/" });
      }
      if (code === "NOT_FOUND") return json(404, { error: "not found", path: "/" });
    })
    .onRequest(({ request, set }) => {
      Object.assign(set.headers, SECURITY_HEADERS);
      const url = new URL(request.url);
      const away = originProblem(request, hosts, origins);
      if (away !== undefined) return json(403, { error: away, path: "/headers" }, SECURITY_HEADERS);
      // No CORS: a cross-origin preflight gets no permission.
      if (request.method === "OPTIONS")
        return json(403, { error: "cross-origin requests are not allowed", path: "/" });
      if (url.search.length > MAX_QUERY_BYTES)
        return json(413, { error: `query longer than ${MAX_QUERY_BYTES} bytes`, path: "/query" });
      if (options.token === undefined || url.pathname.startsWith("/assets/")) return;
      if (!hasToken(request, url, options.token))
        return json(
          401,
          { error: "missing or wrong token: send Authorization: Bearer <token> or ?token=" },
          { "www-authenticate": "Bearer" },
        );
    })
    .get("/", () => new Response(Bun.file(resolve(DASHBOARD, "index.html"))), {
      detail: { summary: "The dashboard" },
    })
    .get(
      "/assets/:file",
      ({ params }) => {
        const asset = ASSETS.get(params.file);
        if (asset === undefined) return json(404, { error: "no such asset", path: "/file" });
        return new Response(Bun.file(asset.file), { headers: { "content-type": asset.type } });
      },
      { params: t.Object({ file: t.String() }), detail: { summary: "A dashboard asset" } },
    )
    .get(
      "/events",
      ({ request, set }) => {
        const url = new URL(request.url);
        const filter = filterFrom(url);
        if (isFilterError(filter)) return json(400, filter);
        const lossless = losslessFrom(url);
        if (isFilterError(lossless)) return json(400, lossless);
        const last = request.headers.get("last-event-id");
        if (last !== null && !/^\d{1,15}$/.test(last))
          return json(400, {
            error: "Last-Event-ID: expected the integer id of an event",
            path: "/headers/last-event-id",
          });
        set.headers["content-type"] = "text/event-stream; charset=utf-8";
        set.headers["cache-control"] = "no-cache";
        set.headers["x-accel-buffering"] = "no";
        return sseStream(hub, {
          filter,
          capacity: options.clientQueue,
          lossless,
          heartbeatMs: options.heartbeatMs,
          lastEventId: last === null ? undefined : Number(last),
          signal: request.signal,
        });
      },
      {
        query: FeedQuery,
        detail: { summary: "Server-Sent Events: the feed, filtered; Last-Event-ID resumes" },
      },
    )
    .ws("/ws", {
      query: FeedQuery,
      detail: { summary: "WebSocket feed; send a filter object to change it" },
      beforeHandle({ request }) {
        const url = new URL(request.url);
        const filter = filterFrom(url);
        if (isFilterError(filter)) throw status(400, filter);
        const lossless = losslessFrom(url);
        if (isFilterError(lossless)) throw status(400, lossless);
      },
      open(ws) {
        const url = new URL(ws.data.request.url);
        const filter = filterFrom(url) as FeedFilter;
        const lossless = losslessFrom(url) === true;
        // Elysia's copy of the socket type predates getBufferedAmount; the object is Bun's.
        const socket = ws.raw as unknown as ServerWebSocket<unknown>;
        const feed = new WsFeed(
          hub,
          socket,
          filter,
          options.clientQueue,
          options.maxBodyBytes,
          lossless,
        );
        feeds.set(ws.raw, feed);
        ws.raw.sendText(JSON.stringify({ filter: filterJson(filter), lastId: hub.lastId }));
      },
      message(ws, message) {
        feeds.get(ws.raw)?.receive(message);
      },
      drain(ws) {
        feeds.get(ws.raw)?.pump();
      },
      close(ws) {
        feeds.get(ws.raw)?.close();
        feeds.delete(ws.raw);
      },
    })
    .get(
      "/health",
      () => ({
        status: "ok" as const,
        runs: registry.active,
        queuedNs: registry.queued,
        clients: hub.connected.length,
      }),
      {
        response: t.Object({
          status: t.Literal("ok"),
          runs: t.Integer({ description: "runs in progress" }),
          queuedNs: t.Number({ description: "simulated ns accepted, not yet finished" }),
          clients: t.Integer({ description: "feed clients connected" }),
        }),
        detail: { summary: "Liveness and load" },
      },
    )
    .get(
      "/metrics",
      () =>
        new Response(metricsText(hub, registry), {
          headers: { "content-type": METRICS_CONTENT_TYPE },
        }),
      { detail: { summary: "Prometheus text: runs, queued work, per-client delivery and loss" } },
    )
    .get(
      "/state",
      () => {
        const latest = observer.latest;
        const p = latest?.platform;
        return {
          feed: {
            lastId: hub.lastId,
            replay: hub.replay,
            eventTypes: EVENT_TYPES,
            clients: hub.connected.map((c) => ({
              id: c.id,
              kind: c.kind,
              queued: c.size,
              notices: c.pendingNotices,
              lossless: c.lossless,
              capacity: c.capacity,
              dropped: c.droppedTotal,
              delivered: c.delivered,
              filter: filterJson(c.filter),
            })),
          },
          run: latest === undefined ? null : summary(latest),
          running: observer.running.map(summary),
          domains: p === undefined ? [] : domainsState(p, latest!.sim.now),
          windows: p === undefined ? [] : windowsState(p),
          results: observer
            .recent(Number.POSITIVE_INFINITY)
            .filter((r) => r.metrics !== undefined)
            .map((r) => ({ ...summary(r), metrics: r.metrics })),
          series: observer.recent(SERIES_RUNS).map(seriesOf),
          runs: registry.list(),
        };
      },
      {
        detail: {
          summary: "Snapshot: domains, grants, DVMA windows, IOMMU stats, results, clients",
        },
      },
    )
    .get(
      "/scenarios",
      async () =>
        [...(await parts.catalogue).scenarios.values()].map(({ name, description }) => ({
          name,
          description,
        })),
      {
        response: t.Array(t.Object({ name: t.String(), description: t.String() })),
        detail: { summary: "The scenarios a run may name" },
      },
    )
    .post(
      "/runs",
      async ({ body }) => {
        const r = await registry.start(body);
        return "id" in r ? json(202, r) : json(r.status, { error: r.error, path: r.path });
      },
      {
        // Read by checkedJson, not by Elysia ("json" after it only tells the OpenAPI document
        // the body's type: checkedJson always returns or throws first).
        parse: [checkedJson, "json"],
        body: RunRequestSchema,
        response: { 202: t.Object({ id: t.Integer() }), ...REFUSALS },
        detail: {
          summary: "Start a run (everything is checked before the 202)",
        },
      },
    )
    .get(
      "/runs/:id",
      ({ params }) => {
        const rec = recordOf(params.id);
        return rec === undefined ? noRun(params.id) : { ...summaryOf(rec), report: rec.report };
      },
      { params: RunParams, detail: { summary: "A run: status, progress, report when done" } },
    )
    .delete(
      "/runs/:id",
      async ({ params }) => {
        const rec = recordOf(params.id);
        if (rec === undefined) return noRun(params.id);
        await registry.cancel(rec.id);
        return summaryOf(rec);
      },
      { params: RunParams, detail: { summary: "Cancel a run (it stops between slices)" } },
    )
    .get(
      "/runs/:id/:file",
      ({ params }) => {
        const rec = recordOf(params.id);
        if (rec === undefined) return noRun(params.id);
        const file = params.file;
        if (file === "trace.json") {
          if (rec.trace === undefined)
            return json(404, {
              error: `run ${rec.id} was not traced (request "trace": true)`,
              path: "/id",
            });
          if (rec.status === "running")
            return json(409, { error: `run ${rec.id} is still running`, path: "/id" });
          return attachment(rec.trace.serialize(), "application/json; charset=utf-8", rec.id, file);
        }
        if (!Object.hasOwn(DOWNLOADS, file))
          return json(404, {
            error: "files: report.json, report.csv, report.html, trace.json",
            path: "/file",
          });
        const d = DOWNLOADS[file as keyof typeof DOWNLOADS];
        if (rec.report === undefined || rec.scenario === undefined)
          return json(409, {
            error: `run ${rec.id} has no report yet (${rec.status})`,
            path: "/id",
          });
        return attachment(d.body(rec.report, rec.scenario), d.type, rec.id, file);
      },
      {
        params: t.Object({
          id: t.String(),
          file: t.String({ description: "report.json, report.csv, report.html or trace.json" }),
        }),
        detail: { summary: "Download a finished run's report or trace" },
      },
    );

  /** The body of POST /runs: JSON by content type, at most maxBodyBytes, read no further. */
  async function checkedJson({ request }: { request: Request }): Promise<unknown> {
    // A JSON content type makes a cross-origin page send a preflight, which is refused.
    const type = request.headers.get("content-type") ?? "";
    if (!/^application\/json\s*(;|$)/i.test(type))
      throw new BodyRefused(415, "Content-Type must be application/json", "/headers/content-type");
    const text = await readBody(request, options.maxBodyBytes);
    if (text === undefined)
      throw new BodyRefused(413, `body larger than ${options.maxBodyBytes} bytes`, "/");
    try {
      return JSON.parse(text);
    } catch {
      throw new BodyRefused(400, "body is not JSON", "/");
    }
  }

  function recordOf(id: string): RunRecord | undefined {
    return /^\d{1,9}$/.test(id) ? registry.get(Number(id)) : undefined;
  }
  function noRun(id: string): Response {
    return json(404, { error: `no run ${JSON.stringify(id.slice(0, 20))}`, path: "/id" });
  }

  /** Ends every stream: SSE generators return (a clean end of stream), sockets close with 1001. */
  const closeClients = () => {
    for (const c of hub.connected) hub.detach(c);
    for (const f of feeds.values()) f.end(1001, "server stopping");
  };
  return { app, closeClients };
}

export type LiveApp = ReturnType<typeof createApp>["app"];
