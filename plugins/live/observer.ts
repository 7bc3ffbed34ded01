/**
 * The live plugin's per-run side: each run registers the live plugin in its own host, and its
 * setup hands the run here. The run's `run` and `result` notices always go on the feed (and
 * /state keeps the booted platform of the latest run, each run's chart series and figures), but
 * events are taken from the bus only while a client is connected, and only the kinds some
 * client's filter asks for: with no client the live plugin holds no subscription, so an
 * unobserved `--serve` run costs what a run without it costs.
 */

import type {
  EventBus,
  PathMetrics,
  Platform,
  PluginContext,
  RunInfo,
  SimEvent,
  Simulator,
} from "../../core/index.ts";
import { FeedNotice } from "./feed-item.ts";
import type { FeedHub } from "./hub.ts";
import { RunSeries, type SeriesPoint } from "./series.ts";

/** Finished runs kept for /state (their metrics and series). */
const KEEP_FINISHED = 32;

export interface LiveRun {
  /** Run number on this server (1, 2, ...). */
  readonly run: number;
  readonly info: RunInfo;
  /**
   * The run's clock: its simulator, or for a run on a queue's worker the time it last posted;
   * once the run is over and no longer the latest, only its end time.
   */
  sim: Pick<Simulator, "now">;
  readonly series: RunSeries;
  platform?: Platform;
  metrics?: PathMetrics;
  /** The queue's worker running it (`host:pid`), for a run of a queued sweep. */
  worker?: string;
}

export interface RunSummary {
  run: number;
  scenario: string;
  path: string;
  params: Record<string, unknown>;
  index: number;
  total: number;
  nowNs: number;
  done: boolean;
  worker?: string;
}

/**
 * A run in progress: its bus and hooks, and the subscriptions held on its bus now. A run on a
 * queue's worker has neither: its events stay there.
 */
interface Tap {
  readonly live: LiveRun;
  readonly bus?: EventBus;
  readonly hooks?: PluginContext["hooks"];
  off: (() => void)[];
}

type Wanted = ReadonlySet<string> | "all" | null;

export class LiveObserver {
  private nextRun = 1;
  private readonly active = new Map<RunInfo, Tap>();
  private readonly finished: LiveRun[] = [];
  /** What the clients want now (null: no client). */
  private wanted: Wanted = null;
  /** The run /state shows: the one that started last (its platform stays after it ends). */
  latest: LiveRun | undefined;

  constructor(private readonly hub: FeedHub) {
    hub.onDemand = () => this.demandChanged();
  }

  /** A run's live plugin was set up (`ctx` is its context in the run's host). */
  attach(ctx: PluginContext): void {
    const run = ctx.run;
    if (run === undefined) return;
    const { info, sim } = run;
    const live: LiveRun = { run: this.nextRun++, info, sim, series: new RunSeries() };
    const tap: Tap = { live, bus: ctx.bus, hooks: ctx.hooks, off: [] };
    this.active.set(info, tap);
    this.latest = live;
    this.hub.publish(new FeedNotice("run", { ...summary(live), domainNames: info.domainNames }));
    this.subscribe(tap);
    ctx.hooks.hook("boot", (platform) => {
      live.platform = platform;
      live.series.attach(platform.controlCpu);
    });
    ctx.hooks.hook("result", (metrics) => this.onResult(tap, metrics));
  }

  /**
   * A run of a queued sweep (`--serve --queue`), when its worker first reports: on the feed with
   * a `run` notice and in /state's `running`; `clock.now` is what the worker last posted.
   */
  remote(info: RunInfo, clock: { now: number }, worker?: string): LiveRun {
    const live: LiveRun = {
      run: this.nextRun++,
      info,
      sim: clock,
      series: new RunSeries(),
      worker,
    };
    this.active.set(info, { live, off: [] });
    this.latest = live;
    this.hub.publish(new FeedNotice("run", { ...summary(live), domainNames: info.domainNames }));
    return live;
  }

  /** The result of a run of a queued sweep (see `remote`). */
  remoteResult(info: RunInfo, metrics: PathMetrics): void {
    const tap = this.active.get(info);
    if (tap !== undefined && tap.bus === undefined) this.onResult(tap, metrics);
  }

  /** The live run of `info` while it goes on (runs started over HTTP find theirs). */
  runOf(info: RunInfo): LiveRun | undefined {
    return this.active.get(info)?.live;
  }

  private onResult(tap: Tap, metrics: PathMetrics): void {
    const r = tap.live;
    this.unsubscribe(tap);
    this.active.delete(r.info);
    r.metrics = metrics;
    r.series.detach();
    const { path, index } = r.info;
    const by = r.worker === undefined ? {} : { worker: r.worker };
    this.hub.publish(new FeedNotice("result", { run: r.run, index, path, ...by, metrics }));
    this.finished.push(r);
    if (this.finished.length > KEEP_FINISHED) this.finished.shift();
    // Only the latest run's machine and clock are kept (for /state); older ones can be collected
    // (a clock holds its pending events, whose closures hold the whole machine).
    for (const f of this.finished)
      if (f !== this.latest && f.platform !== undefined) {
        f.platform = undefined;
        f.sim = { now: f.sim.now };
      }
  }

  /** Clients came, went or changed their filters: every run in progress subscribes anew. */
  private demandChanged(): void {
    const before = this.wanted;
    const now = this.hub.wanted();
    if (sameWanted(before, now)) return;
    this.wanted = now;
    for (const tap of this.active.values()) {
      this.unsubscribe(tap);
      this.subscribe(tap);
      // The sampler starts once someone listens to `metric`, also mid-run.
      if (now !== null) tap.hooks?.callSync("listen");
    }
    if (now === null && before !== null && this.active.size > 0)
      this.hub.publish(
        new FeedNotice("unobserved", {
          runs: [...this.active.values()].map((t) => t.live.run),
          reason: "no client is connected: events are not kept until one connects",
        }),
      );
  }

  /**
   * Listens to what the clients want: every kind through one "*" listener, or each kind asked
   * for; `io.done` also feeds the run's chart series while any client is connected.
   */
  private subscribe(tap: Tap): void {
    const wanted = this.wanted;
    const { hub } = this;
    const { bus, live } = tap;
    if (wanted === null || bus === undefined) return;
    const series = live.series;
    const chart = (e: SimEvent) => {
      if (e.type === "io.done") series.record(e.t, e.bytes, e.latencyNs);
    };
    const both = (e: SimEvent) => {
      hub.publish(e);
      chart(e);
    };
    if (wanted === "all") {
      tap.off.push(bus.on("*", both));
      return;
    }
    for (const kind of wanted)
      tap.off.push(
        bus.on(kind as never, kind === "io.done" ? both : (e: SimEvent) => hub.publish(e)),
      );
    if (!wanted.has("io.done")) tap.off.push(bus.on("io.done", chart));
  }

  private unsubscribe(tap: Tap): void {
    for (const off of tap.off) off();
    tap.off = [];
  }

  /** Drops runs that will never finish (their scenario run was stopped or failed). */
  forget(infos: readonly RunInfo[]): void {
    for (const i of infos) {
      const tap = this.active.get(i);
      if (tap !== undefined) this.unsubscribe(tap);
      this.active.delete(i);
    }
  }

  /** Active runs, then the latest finished ones, oldest first. */
  recent(n: number): LiveRun[] {
    return [...this.finished, ...this.running].slice(-n);
  }

  get running(): LiveRun[] {
    return [...this.active.values()].map((t) => t.live);
  }
}

function sameWanted(a: Wanted, b: Wanted): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === "all" || b === "all") return false;
  return a.size === b.size && [...a].every((k) => b.has(k));
}

export function summary(r: LiveRun): RunSummary {
  const { scenario, path, params, index, total } = r.info;
  return {
    run: r.run,
    scenario,
    path,
    params,
    index,
    total,
    nowNs: r.sim.now,
    done: r.metrics !== undefined,
    ...(r.worker === undefined ? {} : { worker: r.worker }),
  };
}

export function seriesOf(r: LiveRun): {
  run: number;
  path: string;
  params: Record<string, unknown>;
  bucketNs: number;
  points: SeriesPoint[];
} {
  return {
    run: r.run,
    path: r.info.path,
    params: r.info.params,
    bucketNs: r.series.bucketNs,
    points: r.series.points(r.sim.now),
  };
}
