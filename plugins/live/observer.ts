/**
 * The live plugin's observer: puts every event of every run on the feed, keeps the booted
 * platform of the latest run for /state, and each run's chart series and final metrics. Each
 * run registers `runObserver()` in its own host.
 */

import type {
  EventBus,
  PathMetrics,
  Platform,
  Plugin,
  RunInfo,
  Simulator,
} from "../../core/index.ts";
import { definePlugin } from "../../core/index.ts";
import { FeedNotice } from "./feed-item.ts";
import type { FeedHub } from "./hub.ts";
import { RunSeries, type SeriesPoint } from "./series.ts";

/** Finished runs kept for /state (their metrics and series). */
const KEEP_FINISHED = 32;

export interface LiveRun {
  /** Run number on this server (1, 2, ...). */
  readonly run: number;
  readonly info: RunInfo;
  /** The run's clock: its simulator, or for a run on a queue's worker the time it last posted. */
  readonly sim: Pick<Simulator, "now">;
  readonly series: RunSeries;
  platform?: Platform;
  metrics?: PathMetrics;
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
}

export class LiveObserver {
  private nextRun = 1;
  private readonly active = new Map<RunInfo, LiveRun>();
  private readonly finished: LiveRun[] = [];
  /** The run /state shows: the one that started last (its platform stays after it ends). */
  latest: LiveRun | undefined;

  constructor(private readonly hub: FeedHub) {}

  /**
   * The observer plugin a run registers: the run's bus, machine and figures go to the feed.
   * It charts the sampler's metric events, so it requires the sampler. `started` is told each
   * run's info once the run is on the feed.
   */
  runObserver(started?: (info: RunInfo) => void): Plugin<"observer"> {
    return definePlugin({
      name: "live-feed",
      kind: "observer",
      version: "1.0.0",
      description: "every event, the machine and the figures of the run, onto the live feed",
      requires: ["sampler"],
      setup: (ctx) => {
        const run = ctx.run;
        if (run === undefined) return;
        this.onRun(ctx.bus, run.info, run.sim);
        started?.(run.info);
        ctx.hooks.hook("boot", (platform) => this.onBoot(platform, run.info));
        ctx.hooks.hook("result", (metrics) => this.onResult(run.info, metrics));
      },
    });
  }

  onRun(bus: EventBus, info: RunInfo, sim: Pick<Simulator, "now">): void {
    const r: LiveRun = { run: this.nextRun++, info, sim, series: new RunSeries() };
    this.active.set(info, r);
    this.latest = r;
    const hub = this.hub;
    const series = r.series;
    hub.publish(new FeedNotice("run", { ...summary(r), domainNames: info.domainNames }));
    bus.on("*", (e) => {
      hub.publish(e);
      if (e.type === "io.done") series.record(e.t, e.bytes, e.latencyNs);
    });
  }

  onBoot(platform: Platform, info: RunInfo): void {
    const r = this.active.get(info);
    if (r === undefined) return;
    r.platform = platform;
    r.series.attach(platform.controlCpu);
  }

  onResult(info: RunInfo, metrics: PathMetrics): void {
    const r = this.active.get(info);
    if (r === undefined) return;
    this.active.delete(info);
    r.metrics = metrics;
    this.hub.publish(new FeedNotice("result", { run: r.run, path: info.path, metrics }));
    this.finished.push(r);
    if (this.finished.length > KEEP_FINISHED) this.finished.shift();
    // Only the latest run's machine is kept (for /state); older ones can be collected.
    for (const f of this.finished) if (f !== this.latest) f.platform = undefined;
  }

  /** Drops runs that will never finish (their scenario run was stopped or failed). */
  forget(infos: readonly RunInfo[]): void {
    for (const i of infos) this.active.delete(i);
  }

  /** Active runs, then the latest finished ones, oldest first. */
  recent(n: number): LiveRun[] {
    return [...this.finished, ...this.active.values()].slice(-n);
  }

  get running(): LiveRun[] {
    return [...this.active.values()];
  }
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
