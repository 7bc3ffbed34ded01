/**
 * The live server's Elysia app: the event feed (SSE and WebSocket), the state snapshot, the
 * scenario list and runs, and the dashboard. Every route except the static assets checks the
 * token when one is set; query strings and bodies have size limits.
 */

import { resolve } from "node:path";
import type { ServerWebSocket } from "bun";
import { Elysia, status } from "elysia";
import { EVENT_TYPES, listScenarios, loadScenarioFile } from "../../core/index.ts";
import {
  ALL_EVENTS,
  type FeedFilter,
  type FilterError,
  filterJson,
  isFilterError,
  parseFilter,
} from "./filter.ts";
import { hasToken, json, MAX_QUERY_BYTES, readBody } from "./http.ts";
import type { FeedHub } from "./hub.ts";
import { type LiveObserver, seriesOf, summary } from "./observer.ts";
import type { LiveOptions } from "./options.ts";
import type { RunRegistry } from "./runs.ts";
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
/** Bytes a WebSocket may have waiting to be sent before its feed pauses. */
const WS_BUFFER_BYTES = 1 << 20;
/** Runs whose chart series /state returns. */
const SERIES_RUNS = 8;

export interface LiveParts {
  hub: FeedHub;
  observer: LiveObserver;
  registry: RunRegistry;
  options: LiveOptions;
  cwd: string;
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
  const { hub, observer, registry, options } = parts;
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
    .onRequest(({ request }) => {
      const url = new URL(request.url);
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
    .get("/scenarios", async () => {
      const names = await listScenarios();
      return Promise.all(
        names.map(async (name) => {
          const raw = (await loadScenarioFile(name, parts.cwd)) as { description?: unknown };
          return { name, description: typeof raw.description === "string" ? raw.description : "" };
        }),
      );
    })
    .post(
      "/runs",
      async ({ request }) => {
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
      const rec = /^\d{1,9}$/.test(params.id) ? registry.get(Number(params.id)) : undefined;
      return rec === undefined ? json(404, { error: `no run ${params.id}`, path: "/id" }) : rec;
    });

  /** Ends every stream: SSE generators return (a clean end of stream), sockets close with 1001. */
  const closeClients = () => {
    for (const c of hub.connected) hub.detach(c);
    for (const f of feeds.values()) f.end(1001, "server stopping");
  };
  return { app, closeClients };
}

export type LiveApp = ReturnType<typeof createApp>["app"];
