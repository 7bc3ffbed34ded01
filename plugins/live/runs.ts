/**
 * Runs started over HTTP (POST /runs): the request is checked against a TypeBox schema and the
 * scenario's own rules, at most `maxRuns` run at once, each paced or as fast as possible with
 * the live observer attached. Only built-in scenarios: a request never names a file to import.
 */

import {
  applySets,
  describeThrown,
  InputError,
  listScenarios,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
  type Report,
  type RunInfo,
  type RunObserver,
  runScenarioAsync,
  type Static,
  schemaProblems,
  Type,
} from "../../core/index.ts";
import type { LiveObserver } from "./observer.ts";

export const RunRequestSchema = Type.Object(
  {
    scenario: Type.String({ minLength: 1, maxLength: 200, description: "built-in scenario name" }),
    seed: Type.Optional(Type.Integer({ minimum: 0 })),
    duration: Type.Optional(
      Type.Union([Type.String({ maxLength: 32 }), Type.Integer({ minimum: 1 })], {
        description: 'simulated time per run: "5ms" or integer ns',
      }),
    ),
    set: Type.Optional(
      Type.Array(Type.String({ maxLength: 1000 }), {
        maxItems: 64,
        description: "key=value overrides, as --set",
      }),
    ),
    pace: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, maximum: 1e9, description: "simulated/wall time ratio" }),
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
  report?: Report;
  error?: string;
}

/** Why a run was not started: HTTP status, message, and the body field at fault. */
export interface RunRefusal {
  status: 400 | 429;
  error: string;
  path: string;
}

const KEEP_RECORDS = 100;

export class RunRegistry {
  private nextId = 1;
  private readonly records = new Map<number, RunRecord>();
  private readonly running = new Map<number, { abort: AbortController; done: Promise<void> }>();
  /** Slots taken, counted from acceptance (loading is async) to the end of the run. */
  private busy = 0;

  constructor(
    private readonly observer: LiveObserver,
    private readonly maxRuns: number,
    private readonly cwd: string,
  ) {}

  async start(body: unknown): Promise<{ id: number } | RunRefusal> {
    const problem = schemaProblems(RunRequestSchema, body)[0];
    if (problem !== undefined) {
      const path = problem.path || "/";
      return {
        status: 400,
        error: `${path}: ${problem.message}; allowed: ${problem.allowed}`,
        path,
      };
    }
    const req = body as RunRequest;
    if (this.busy >= this.maxRuns) {
      return {
        status: 429,
        error: `${this.busy} run(s) in progress; at most ${this.maxRuns} at once (option maxRuns)`,
        path: "/",
      };
    }
    this.busy++;
    let started = false;
    try {
      const known = await listScenarios();
      if (!known.includes(req.scenario)) {
        return {
          status: 400,
          error: `unknown scenario "${req.scenario}"; built-in scenarios: ${known.join(", ")}`,
          path: "/scenario",
        };
      }
      const sets = [...(req.set ?? [])];
      if (req.seed !== undefined) sets.unshift(`seed=${req.seed}`);
      if (req.duration !== undefined) sets.unshift(`duration=${JSON.stringify(req.duration)}`);
      const raw = applySets(await loadScenarioFile(req.scenario, this.cwd), sets);
      const scn = parseScenario(raw);
      const table = await loadScenarioPlugins(scn, this.cwd);
      const id = this.nextId++;
      const rec: RunRecord = {
        id,
        status: "running",
        request: req,
        runs: [],
        progress: { done: 0, total: 0 },
      };
      this.remember(rec);
      const abort = new AbortController();
      const infos: RunInfo[] = [];
      const live = this.observer;
      const tap: RunObserver = {
        onRun: (bus, info, sim) => {
          infos.push(info);
          live.onRun(bus, info, sim);
          rec.runs.push(live.latest!.run);
        },
        onBoot: (p, info) => live.onBoot(p, info),
        onResult: (info, m) => live.onResult(info, m),
      };
      const done = runScenarioAsync(raw, scn, table, {
        observers: [tap],
        pace: req.pace,
        signal: abort.signal,
        progress: (n, total) => (rec.progress = { done: n, total }),
      })
        .then((report) => {
          rec.report = report;
          rec.status = abort.signal.aborted ? "stopped" : "done";
        })
        .catch((e) => {
          rec.status = "failed";
          rec.error = describeThrown(e);
        })
        .finally(() => {
          this.busy--;
          this.running.delete(id);
          live.forget(infos);
        });
      this.running.set(id, { abort, done });
      started = true;
      return { id };
    } catch (e) {
      if (e instanceof InputError) return { status: 400, error: e.message, path: fieldOf(e, req) };
      throw e;
    } finally {
      if (!started) this.busy--;
    }
  }

  get(id: number): RunRecord | undefined {
    return this.records.get(id);
  }

  /** Every kept run without its report (for /state). */
  list(): Omit<RunRecord, "report">[] {
    return [...this.records.values()].map(({ report: _, ...r }) => r);
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

/** The request field a scenario error comes from: /seed, /duration, else the overrides. */
function fieldOf(e: InputError, req: RunRequest): string {
  const p = e.problems[0]?.path ?? "";
  if (req.seed !== undefined && p.startsWith("/seed")) return "/seed";
  if (req.duration !== undefined && p.startsWith("/duration")) return "/duration";
  return req.set !== undefined && req.set.length > 0 ? "/set" : "/scenario";
}
