/**
 * The live server's Elysia app: the event feed (SSE and WebSocket), the state snapshot, the
 * scenario list and runs, and the dashboard. Every route except the static assets checks the
 * token when one is set; query strings and bodies have size limits.
 */

import { resolve } from "node:path";
import type { ServerWebSocket } from "bun";
import { Elysia, status } from "elysia";
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
import { type RunRecord, type RunRegistry, summaryOf } from "./runs.ts";
import { sseStream } from "./sse.ts";
import { domainsState, windowsState } from "./state.ts";
import { WsFeed } from "./ws-feed.ts";

const DASHBOARD = resolve(import.meta.dir, "dashboard");
/** Files under dashboard/ the app serves (nothing else is reachable). */
const ASSETS = new Map([
  ["app.js", "text/javascript; charset=utf-8"],
  ["charts.js", "text/javascript; charset=utf-8"],
  ["style.css", "text/css; charset=utf-8"],
]);
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
  return parseFilter(queryOf(url), ALL_EVENTS, true, ["token"]);
}

export function createApp(parts: LiveParts) {
  const { hub, observer, registry, options, hosts, origins } = parts;
  const feeds = new Map<object, WsFeed>();

  const app = new Elysia({
    websocket: {
      maxPayloadLength: options.maxBodyBytes,
      idleTimeout: 120,
      // What one socket may hold unsent; beyond it sends report backpressure (the queue drops).
      backpressureLimit: WS_BUFFER_BYTES,
      closeOnBackpressureLimit: false,
    },
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
    .get("/", () => new Response(Bun.file(resolve(DASHBOARD, "index.html"))))
    .get("/assets/:file", ({ params }) => {
      const type = ASSETS.get(params.file);
      if (type === undefined) return json(404, { error: "no such asset", path: "/file" });
      return new Response(Bun.file(resolve(DASHBOARD, params.file)), {
        headers: { "content-type": type },
      });
    })
    .get("/events", ({ request, set }) => {
      const url = new URL(request.url);
      const filter = filterFrom(url);
      if (isFilterError(filter)) return json(400, filter);
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
        lastEventId: last === null ? undefined : Number(last),
        signal: request.signal,
      });
    })
    .ws("/ws", {
      beforeHandle({ request }) {
        const filter = filterFrom(new URL(request.url));
        if (isFilterError(filter)) throw status(400, filter);
      },
      open(ws) {
        const filter = filterFrom(new URL(ws.data.request.url)) as FeedFilter;
        // Elysia's copy of the socket type predates getBufferedAmount; the object is Bun's.
        const socket = ws.raw as unknown as ServerWebSocket<unknown>;
        const feed = new WsFeed(hub, socket, filter, options.clientQueue, options.maxBodyBytes);
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
    .get("/health", () => ({
      status: "ok",
      runs: registry.active,
      queuedNs: registry.queued,
      clients: hub.connected.length,
    }))
    .get(
      "/metrics",
      () =>
        new Response(metricsText(hub, registry), {
          headers: { "content-type": METRICS_CONTENT_TYPE },
        }),
    )
    .get("/state", () => {
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
    })
    .get("/scenarios", async () =>
      [...(await parts.catalogue).scenarios.values()].map(({ name, description }) => ({
        name,
        description,
      })),
    )
    .post(
      "/runs",
      async ({ request }) => {
        // A JSON content type makes a cross-origin page send a preflight, which is refused.
        const type = request.headers.get("content-type") ?? "";
        if (!/^application\/json\s*(;|$)/i.test(type))
          return json(415, {
            error: "Content-Type must be application/json",
            path: "/headers/content-type",
          });
        const text = await readBody(request, options.maxBodyBytes);
        if (text === undefined)
          return json(413, { error: `body larger than ${options.maxBodyBytes} bytes`, path: "/" });
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          return json(400, { error: "body is not JSON", path: "/" });
        }
        const r = await registry.start(body);
        return "id" in r ? json(202, r) : json(r.status, { error: r.error, path: r.path });
      },
      { parse: "none" },
    )
    .get("/runs/:id", ({ params }) => {
      const rec = recordOf(params.id);
      return rec === undefined ? noRun(params.id) : { ...summaryOf(rec), report: rec.report };
    })
    .delete("/runs/:id", async ({ params }) => {
      const rec = recordOf(params.id);
      if (rec === undefined) return noRun(params.id);
      await registry.cancel(rec.id);
      return summaryOf(rec);
    })
    .get("/runs/:id/:file", ({ params }) => {
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
        return json(409, { error: `run ${rec.id} has no report yet (${rec.status})`, path: "/id" });
      return attachment(d.body(rec.report, rec.scenario), d.type, rec.id, file);
    });

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
