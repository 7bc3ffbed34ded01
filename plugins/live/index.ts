/**
 * live: an observer plugin that serves the simulation as it runs. Every event of every run goes
 * out over SSE (`GET /events`) and WebSocket (`GET /ws`) with per-client filters and bounded
 * queues; `GET /state` snapshots the machine; `POST /runs` starts scenarios; `GET /` is a
 * dashboard. The simulation never waits for a client: a slow one loses events and is told so.
 *
 *   bun run scenario default --serve --pace 0.001   (then open http://127.0.0.1:8787/)
 */

import {
  definePlugin,
  durationNs,
  InputError,
  type Plugin,
  type RunInfo,
} from "../../core/index.ts";
import { createApp, type LiveApp } from "./app.ts";
import { Catalogue } from "./catalogue.ts";
import { liveCli } from "./cli.ts";
import { allowedHosts } from "./http.ts";
import { FeedHub } from "./hub.ts";
import { LiveObserver } from "./observer.ts";
import { checkBind, isLoopback, LiveOptionsSchema } from "./options.ts";
import { followQueued, type RunHold, RunRegistry } from "./runs.ts";

const STOP_GRACE_MS = 50;

export interface LiveServer {
  /** The observer each run registers (`observers: [server.observer]`). */
  readonly observer: Plugin<"observer">;
  /** Where it listens, e.g. http://127.0.0.1:8787/ */
  readonly url: string;
  /** The Elysia app (tests call `app.handle(new Request(...))`). */
  readonly app: LiveApp;
  /** Runs started with POST /runs. */
  readonly runs: RunRegistry;
  /** Back-pressure for a run observed by this server (the CLI's own run): pass `drain` to it, call `end` after. */
  hold(paced: boolean): RunHold;
  /** Puts a sweep run by a queue's workers on the feed, as the submitter hears of it. */
  follow(runs: readonly RunInfo[]): ReturnType<typeof followQueued>;
  /** Stops runs started over HTTP, ends every client stream and closes the server. */
  stop(): Promise<void>;
}

export default definePlugin({
  name: "live",
  kind: "observer",
  version: "1.0.0",
  description: "Live feed: SSE and WebSocket events, /state, POST /runs and a dashboard (Elysia)",
  options: LiveOptionsSchema,
  cli: liveCli,
  setup(ctx, options): LiveServer {
    checkBind(options);
    const hub = new FeedHub(options.replay, options.clientQueue);
    const observer = new LiveObserver(hub);
    const cwd = process.cwd();
    const catalogue = Catalogue.load(cwd, options.plugins);
    // A request awaits it; an unhandled rejection must not end the process first.
    catalogue.catch(() => {});
    const hold = (paced: boolean) => hub.hold(paced);
    const runs = new RunRegistry(
      observer,
      catalogue,
      {
        maxRuns: options.maxRuns,
        maxDurationNs: durationNs(options.maxDuration),
        maxPoints: options.maxPoints,
        maxQueuedNs: durationNs(options.maxQueued),
        maxWallSeconds: options.maxWallSeconds,
      },
      hold,
    );
    const hosts = new Set<string>();
    const origins = new Set(options.allowOrigins.map((o) => o.toLowerCase().replace(/\/$/, "")));
    const { app, closeClients } = createApp({
      hub,
      observer,
      registry: runs,
      options,
      catalogue,
      hosts,
      origins,
    });
    try {
      // One server per port: without reusePort a second one fails instead of sharing requests.
      app.listen({
        port: options.port,
        hostname: options.host,
        reusePort: false,
        development: false,
      });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "EADDRINUSE")
        throw new InputError(
          `live: port ${options.port} on ${options.host} is in use (another server?); choose another with --port`,
        );
      throw e;
    }
    const port = app.server!.port!;
    for (const h of allowedHosts(
      options.host,
      port,
      isLoopback(options.host),
      options.allowOrigins,
    ))
      hosts.add(h);
    const url = app.server!.url.href;
    ctx.log(`serving on ${url}`);
    let stopped: Promise<void> | undefined;
    return {
      url,
      app,
      runs,
      hold,
      follow: (infos) => followQueued(observer, infos),
      observer: observer.runObserver(),
      stop: () =>
        (stopped ??= (async () => {
          await runs.stopAll();
          closeClients();
          // Let the ended streams flush their last bytes before connections are cut.
          await Bun.sleep(STOP_GRACE_MS); // host clock
          await app.stop(true);
        })()),
    };
  },
});
