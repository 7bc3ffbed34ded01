/**
 * live: an observer plugin that serves the simulation as it runs. Its server starts once
 * (`service`, outside any run) and outlives the runs; each run registers the plugin in its own
 * host, where it puts the run on the feed (observer.ts). While clients are connected, the
 * events their filters name go out over SSE (`GET /events`) and WebSocket (`GET /ws`) with
 * bounded queues; with none, the plugin holds no subscription. `GET /state` snapshots the
 * machine; `POST /runs` starts scenarios; `GET /` is a dashboard. An unpaced run never waits
 * for a client: a slow one loses events and is told so.
 *
 *   bun run scenario default --serve --pace 0.001   (then open http://127.0.0.1:8787/)
 */

import {
  definePlugin,
  durationNs,
  InputError,
  type Plugin,
  type PluginService,
} from "../../core/index.ts";
import { createApp, type LiveApp } from "./app.ts";
import { Catalogue } from "./catalogue.ts";
import { liveCli } from "./cli.ts";
import { allowedHosts } from "./http.ts";
import { FeedHub } from "./hub.ts";
import { LiveObserver } from "./observer.ts";
import { checkBind, isLoopback, type LiveOptions, LiveOptionsSchema } from "./options.ts";
import { followQueued } from "./queued.ts";
import { type RunHold, RunRegistry } from "./runs.ts";

const STOP_GRACE_MS = 50;

export interface LiveServer extends PluginService {
  /** What each run registers (`observers: [server.observer]`): the live plugin, its options, this server. */
  readonly observer: LiveRef;
  /** Where it listens, e.g. http://127.0.0.1:8787/ */
  readonly url: string;
  /** The Elysia app (tests call `app.handle(new Request(...))`). */
  readonly app: LiveApp;
  /** Runs started with POST /runs. */
  readonly runs: RunRegistry;
  /** The feed's per-run side: what each run's live plugin hands its run to. */
  readonly feed: LiveObserver;
  /** Back-pressure for a run observed by this server (the CLI's own run): pass `drain` to it, call `end` after. */
  hold(paced: boolean): RunHold;
  /** Stops runs started over HTTP, ends every client stream and closes the server. */
  stop(): Promise<void>;
}

type LiveRef = readonly [
  Plugin<"observer", typeof LiveOptionsSchema, LiveServer>,
  LiveOptions,
  LiveServer,
];

/** Starts the server once (startService), outside any run; each run registers the plugin. */
function serve(options: LiveOptions, log: (message: string) => void): LiveServer {
  checkBind(options);
  const hub = new FeedHub(options.replay, options.clientQueue);
  const feed = new LiveObserver(hub);
  const cwd = process.cwd();
  const catalogue = Catalogue.load(cwd, options.plugins);
  // A request awaits it; an unhandled rejection must not end the process first.
  catalogue.catch(() => {});
  const hold = (paced: boolean) => hub.hold(paced);
  const runs = new RunRegistry(
    feed,
    () => server.observer,
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
    observer: feed,
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
  for (const h of allowedHosts(options.host, port, isLoopback(options.host), options.allowOrigins))
    hosts.add(h);
  const url = app.server!.url.href;
  log(`serving on ${url}`);
  let stopped: Promise<void> | undefined;
  const server: LiveServer = {
    url,
    app,
    runs,
    feed,
    hold,
    follow: (sweep) => followQueued(feed, runs, sweep),
    get observer(): LiveRef {
      return [live, options, server];
    },
    stop: () =>
      (stopped ??= (async () => {
        await runs.stopAll();
        closeClients();
        // Let the ended streams flush their last bytes before connections are cut.
        await Bun.sleep(STOP_GRACE_MS); // host clock
        await app.stop(true);
      })()),
  };
  return server;
}

const live = definePlugin({
  name: "live",
  kind: "observer",
  version: "1.0.0",
  description: "Live feed: SSE and WebSocket events, /state, POST /runs and a dashboard (Elysia)",
  options: LiveOptionsSchema,
  cli: liveCli,
  requires: ["sampler"],
  service: serve,
  setup(ctx): void {
    if (ctx.run === undefined) return;
    if (ctx.service === undefined)
      throw new InputError(
        "live: its server is not started (turn it on with --serve, or startService(live, options))",
      );
    ctx.service.feed.attach(ctx);
  },
});

export default live;
