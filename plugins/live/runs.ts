/**
 * Runs started over HTTP (POST /runs, checked completely first: run-request.ts), and sweeps this
 * server follows on a queue's workers (queued.ts): the run list behind /state's `runs` and
 * GET /runs/:id. At most `maxRuns` run at once; DELETE /runs/:id stops one between slices.
 */

import {
  definePlugin,
  describeThrown,
  type ObserverRef,
  type Report,
  type RunInfo,
  runScenarioAsync,
  type Scenario,
  TraceCollector,
} from "../../core/index.ts";
import type { Catalogue } from "./catalogue.ts";
import { redact } from "./http.ts";
import type { LiveObserver } from "./observer.ts";
import { type Budgets, checkRequest, type RunRefusal, type RunRequest } from "./run-request.ts";

export interface RunRecord {
  id: number;
  status: "running" | "done" | "failed" | "stopped";
  request: RunRequest;
  /** Live run numbers (as in the feed's `run` notices) of its (point, path) runs so far. */
  runs: number[];
  progress: { done: number; total: number };
  /** Simulated nanoseconds this request runs in all (its share of the queued budget). */
  workNs: number;
  report?: Report;
  /** The scenario as run (for the HTML report). */
  scenario?: Scenario;
  trace?: TraceCollector;
  error?: string;
  /** A sweep run by a queue's workers that this server follows (`--serve --queue`). */
  queue?: QueuedRecord;
}

/** What the run list shows of a queued sweep: where, which sweep, who ran its finished points. */
export interface QueuedRecord {
  url: string;
  /** The submitter's id for the sweep (as in `--provenance`), once its jobs are added. */
  sweep?: string;
  /** Points finished per worker (`host:pid`). */
  workers: Record<string, number>;
  /** The latest finished points (at most KEEP_POINTS), in the order they finished. */
  points: QueuedPoint[];
}

export interface QueuedPoint {
  index: number;
  path: string;
  params: Record<string, unknown>;
  worker: string;
  wallMs: number;
  /** Its live run number (as in the feed's `run` and `result` notices). */
  run: number;
}

/** What a run over HTTP is handed besides its observers: pacing's back-pressure. */
export interface RunHold {
  drain: () => Promise<void> | undefined;
  end: () => void;
}

const KEEP_RECORDS = 100;

export class RunRegistry {
  private nextId = 1;
  private readonly records = new Map<number, RunRecord>();
  private readonly running = new Map<number, { abort: AbortController; done: Promise<void> }>();
  /** Simulated ns of the accepted runs not yet finished. */
  private queuedNs = 0;
  /** Runs started this process (for /metrics), by how they ended. */
  readonly counts = { accepted: 0, refused: 0, done: 0, failed: 0, stopped: 0 };

  constructor(
    private readonly observer: LiveObserver,
    /** What each run registers: the live plugin with this server. */
    private readonly perRun: () => ObserverRef,
    private readonly catalogue: Promise<Catalogue>,
    private readonly budgets: Budgets,
    private readonly hold: (paced: boolean) => RunHold,
  ) {}

  /** Checks `body` completely, then starts it; a refusal has no side effect. */
  async start(body: unknown): Promise<{ id: number } | RunRefusal> {
    const r = checkRequest(body, await this.catalogue, this.budgets, {
      queuedNs: this.queuedNs,
      running: this.running.size,
    });
    if ("status" in r) {
      this.counts.refused++;
      return { ...r, error: redact(r.error) };
    }
    return { id: this.launch(r.req, r.raw, r.scn, r.table, r.runs, r.workNs) };
  }

  private launch(
    req: RunRequest,
    raw: unknown,
    scn: Scenario,
    table: Parameters<typeof runScenarioAsync>[2],
    total: number,
    workNs: number,
  ): number {
    const id = this.nextId++;
    const rec: RunRecord = {
      id,
      status: "running",
      request: req,
      runs: [],
      progress: { done: 0, total },
      workNs,
      scenario: scn,
      trace: req.trace ? new TraceCollector() : undefined,
    };
    this.counts.accepted++;
    this.queuedNs += workNs;
    this.remember(rec);
    const abort = new AbortController();
    const infos: RunInfo[] = [];
    const live = this.observer;
    // Registered after the live plugin in each run: notes which live run is this request's.
    const mark = definePlugin({
      name: "live-request",
      kind: "observer",
      version: "1.0.0",
      requires: ["live"],
      setup(ctx) {
        const info = ctx.run?.info;
        const run = info && live.runOf(info);
        if (info === undefined || run === undefined) return;
        infos.push(info);
        rec.runs.push(run.run);
      },
    });
    const hold = this.hold(req.pace !== undefined);
    const done = runScenarioAsync(raw, scn, table, {
      observers: [this.perRun(), mark, ...(rec.trace ? [rec.trace.plugin] : [])],
      pace: req.pace,
      signal: abort.signal,
      drain: hold.drain,
      progress: (n) => (rec.progress = { done: n, total }),
    })
      .then((report) => {
        rec.report = report;
        rec.status = abort.signal.aborted ? "stopped" : "done";
      })
      .catch((e) => {
        rec.status = "failed";
        rec.error = redact(describeThrown(e));
      })
      .finally(() => {
        hold.end();
        this.counts[rec.status as "done" | "failed" | "stopped"]++;
        this.queuedNs -= workNs;
        this.running.delete(id);
        live.forget(infos);
      });
    this.running.set(id, { abort, done });
    return id;
  }

  /** Lists a run that goes on elsewhere (a queued sweep): it gets an id; its owner updates it. */
  track(rec: Omit<RunRecord, "id">): RunRecord {
    const r: RunRecord = { ...rec, id: this.nextId++ };
    this.remember(r);
    return r;
  }

  get(id: number): RunRecord | undefined {
    return this.records.get(id);
  }

  /** Runs in progress (for /metrics and /health). */
  get active(): number {
    return this.running.size;
  }

  /** Simulated ns accepted and not yet finished. */
  get queued(): number {
    return this.queuedNs;
  }

  /** Every kept run, as JSON-safe summaries (for /state and GET /runs/:id). */
  list(): RunSummaryJson[] {
    return [...this.records.values()].map(summaryOf);
  }

  /** Stops run `id` between slices; resolves when it has ended. False if it is not running. */
  async cancel(id: number): Promise<boolean> {
    const r = this.running.get(id);
    if (r === undefined) return false;
    r.abort.abort();
    await r.done;
    return true;
  }

  /** Resolves when run `id` has ended (at once if it is not running). */
  async settled(id: number): Promise<RunRecord | undefined> {
    await this.running.get(id)?.done;
    return this.records.get(id);
  }

  /** Stops every run between slices and waits for them to end. */
  async stopAll(): Promise<void> {
    const all = [...this.running.values()];
    for (const r of all) r.abort.abort();
    await Promise.all(all.map((r) => r.done));
  }

  private remember(rec: RunRecord): void {
    this.records.set(rec.id, rec);
    for (const [id, r] of this.records) {
      if (this.records.size <= KEEP_RECORDS) break;
      if (r.status !== "running") this.records.delete(id);
    }
  }
}

export type RunSummaryJson = Pick<
  RunRecord,
  "id" | "status" | "request" | "runs" | "progress" | "error" | "queue"
> & { downloads: string[] };

export function summaryOf(r: RunRecord): RunSummaryJson {
  return {
    id: r.id,
    status: r.status,
    request: r.request,
    runs: r.runs,
    progress: r.progress,
    error: r.error,
    ...(r.queue === undefined ? {} : { queue: r.queue }),
    downloads: [
      ...(r.report === undefined ? [] : ["report.json", "report.csv", "report.html"]),
      ...(r.trace === undefined || r.status === "running" ? [] : ["trace.json"]),
    ],
  };
}
