/**
 * Runs started over HTTP (POST /runs). Everything is checked before a run is accepted: the
 * request against its schema, the scenario and every plugin it names against the catalogue the
 * server started with (by name, never a path), each plugin's options, and the budgets (simulated
 * time per run, runs per request, simulated time queued in total, wall time of a paced run).
 * At most `maxRuns` run at once; DELETE /runs/:id stops one between slices.
 */

import {
  applySets,
  definePlugin,
  describeThrown,
  durationNs,
  InputError,
  type ObserverRef,
  parseScenario,
  parseWithSchema,
  planRuns,
  pluginUses,
  type Report,
  type RunInfo,
  runScenarioAsync,
  type Scenario,
  type Static,
  schemaProblems,
  TraceCollector,
  Type,
} from "../../core/index.ts";
import type { Catalogue } from "./catalogue.ts";
import { redact } from "./http.ts";
import type { LiveObserver } from "./observer.ts";

export const RunRequestSchema = Type.Object(
  {
    scenario: Type.String({
      minLength: 1,
      maxLength: 200,
      description: "name of a scenario in the server's catalogue (GET /scenarios)",
    }),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff })),
    duration: Type.Optional(
      Type.String({ maxLength: 32, description: 'simulated time per run, with a unit: "5ms"' }),
    ),
    set: Type.Optional(
      Type.Array(Type.String({ maxLength: 1000 }), {
        maxItems: 64,
        description: "key=value overrides, as --set; plugins by registered name only",
      }),
    ),
    pace: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, maximum: 1e9, description: "simulated/wall time ratio" }),
    ),
    trace: Type.Optional(
      Type.Boolean({ description: "record a Chrome trace (GET /runs/:id/trace)" }),
    ),
  },
  { additionalProperties: false },
);
export type RunRequest = Static<typeof RunRequestSchema>;

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

/** Why a run was not started: HTTP status, message, and the body field at fault. */
export interface RunRefusal {
  status: 400 | 413 | 429 | 503;
  error: string;
  path: string;
}

/** The budgets, in the units the checks use. */
export interface Budgets {
  maxRuns: number;
  maxDurationNs: number;
  maxPoints: number;
  maxQueuedNs: number;
  maxWallSeconds: number;
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
    const r = await this.check(body);
    if ("status" in r) {
      this.counts.refused++;
      return { ...r, error: redact(r.error) };
    }
    return { id: this.launch(r.req, r.raw, r.scn, r.table, r.runs, r.workNs) };
  }

  private async check(body: unknown) {
    const catalogue = await this.catalogue;
    const problem = schemaProblems(RunRequestSchema, body)[0];
    if (problem !== undefined) {
      const path = problem.path || "/";
      return refuse(400, `${path}: ${problem.message}; allowed: ${problem.allowed}`, path);
    }
    const req = body as RunRequest;
    const entry = catalogue.scenarios.get(req.scenario);
    if (entry === undefined)
      return refuse(
        400,
        `scenario: ${JSON.stringify(req.scenario)} is not a registered scenario name; ` +
          `registered: ${[...catalogue.scenarios.keys()].join(", ")}`,
        "/scenario",
      );
    const b = this.budgets;
    try {
      const sets = [...(req.set ?? [])];
      if (req.seed !== undefined) sets.unshift(`seed=${req.seed}`);
      if (req.duration !== undefined) sets.unshift(`duration=${JSON.stringify(req.duration)}`);
      const raw = applySets(entry.raw, sets);
      const scn = parseScenario(raw);
      const ns = durationNs(scn.duration);
      if (ns > b.maxDurationNs)
        return refuse(
          413,
          `duration: ${ns / 1e6} ms simulated per run is over the budget of ${b.maxDurationNs / 1e6} ms (option maxDuration)`,
          req.duration !== undefined ? "/duration" : "/set",
        );
      // Count before expanding: a small body can name a huge matrix.
      const points = Object.values(scn.matrix).reduce((n, vs) => n * vs.length, 1);
      if (points * scn.paths.length > b.maxPoints)
        return refuse(
          413,
          `matrix: ${points} point(s) x ${scn.paths.length} path(s) is over the budget of ${b.maxPoints} runs per request (option maxPoints)`,
          "/set",
        );
      const plan = planRuns(raw, scn);
      if (plan.runs.length > b.maxPoints)
        return refuse(
          413,
          `${plan.runs.length} runs is over the budget of ${b.maxPoints} runs per request (option maxPoints)`,
          "/set",
        );
      const uses = pluginUses(scn);
      const table = catalogue.table(uses);
      for (const u of uses) checkPluginOptions(table.get(u.name)!, u.field, u.options);
      for (const p of plan.points) checkFaults(p.scenario);
      const workNs = plan.runs.reduce((n, r) => n + durationNs(r.scenario.duration), 0);
      if (req.pace !== undefined && workNs / 1e9 / req.pace > b.maxWallSeconds)
        return refuse(
          413,
          `pace: ${workNs / 1e6} ms simulated at pace ${req.pace} takes ${Math.ceil(workNs / 1e9 / req.pace)} s, over the budget of ${b.maxWallSeconds} s (option maxWallSeconds)`,
          "/pace",
        );
      if (this.queuedNs + workNs > b.maxQueuedNs)
        return refuse(
          413,
          `${workNs / 1e6} ms simulated more would exceed the queued budget of ${b.maxQueuedNs / 1e6} ms (${this.queuedNs / 1e6} ms queued; option maxQueued)`,
          "/",
        );
      if (this.running.size >= b.maxRuns)
        return refuse(
          429,
          `${this.running.size} run(s) in progress; at most ${b.maxRuns} at once (option maxRuns)`,
          "/",
        );
      return { req, raw, scn, table, runs: plan.runs.length, workNs };
    } catch (e) {
      if (e instanceof InputError) return refuse(400, e.message, fieldOf(e, req));
      throw e;
    }
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

function refuse(status: RunRefusal["status"], error: string, path: string): RunRefusal {
  return { status, error, path };
}

/** Option keys that name something on disk (a trace to replay, an output directory). */
const FILE_KEY = /file|path|dir|trace/i;
/** Values that would resolve to a path: a separator, a leading `.` or `~`, a URL scheme. */
const PATH_LIKE = /[/\\]|^[.~]|^[a-z][a-z0-9+.-]*:/i;

/**
 * Plugin options over HTTP never name a file: a key that names one, or a value that would
 * resolve to a path, is refused (a plugin may read what its options name, e.g. replay's trace).
 * @throws InputError naming the field
 */
function checkNoFiles(field: string, v: unknown, key = ""): void {
  if (typeof v === "string") {
    if (FILE_KEY.test(key) || PATH_LIKE.test(v))
      throw new InputError(
        `${field}: ${JSON.stringify(v)}: plugin options in a run over HTTP may not name files`,
      );
  } else if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) checkNoFiles(`${field}.${i}`, x, key);
  } else if (typeof v === "object" && v !== null)
    for (const [k, x] of Object.entries(v)) checkNoFiles(`${field}.${k}`, x, k);
}

/** A plugin's options, checked as the plugin host will check them. @throws InputError */
function checkPluginOptions(
  plugin: { name: string; options?: unknown },
  field: string,
  options: unknown,
): void {
  checkNoFiles(field, options);
  if (plugin.options === undefined) {
    if (options !== undefined && Object.keys(options as object).length > 0)
      throw new InputError(`${field}: plugin "${plugin.name}" takes no options`);
    return;
  }
  try {
    parseWithSchema(plugin.options as never, options, `${field}: plugin "${plugin.name}" option `);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${field}: ${describeThrown(e)}`);
  }
}

/** Every fault names a domain of the machine. @throws InputError */
function checkFaults(scn: Scenario): void {
  const names = new Set(
    (scn.machine as { domains?: { name?: unknown }[] }).domains?.map((d) => d.name),
  );
  scn.faults.forEach((f, i) => {
    if (f.kind === "kill" && !names.has(f.domain))
      throw new InputError(
        `faults.${i}.domain: no domain "${f.domain}" in the machine; domains: ${[...names].join(", ")}`,
      );
  });
}

/** The request field a scenario error comes from: /seed, /duration, else the overrides. */
function fieldOf(e: InputError, req: RunRequest): string {
  const p = e.problems[0]?.path ?? "";
  if (req.seed !== undefined && p.startsWith("/seed")) return "/seed";
  if (req.duration !== undefined && p.startsWith("/duration")) return "/duration";
  return req.set !== undefined && req.set.length > 0 ? "/set" : "/scenario";
}
