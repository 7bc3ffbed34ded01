/**
 * What POST /runs takes and how it is checked before a run is accepted: the request against its
 * schema, the scenario and every plugin it names against the catalogue the server started with
 * (by name, never a path), each plugin's options (never a file), the faults' domains, and the
 * budgets (simulated time per run, runs per request, simulated time queued in total, wall time
 * of a paced run, runs at once).
 */

import {
  applySets,
  describeThrown,
  durationNs,
  InputError,
  parseScenario,
  parseWithSchema,
  planRuns,
  pluginUses,
  type Scenario,
  type Static,
  schemaProblems,
  Type,
} from "../../core/index.ts";
import type { Catalogue } from "./catalogue.ts";

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

/** What the server has accepted and not yet finished, against which a request is checked. */
export interface Load {
  /** Simulated ns of the accepted runs not yet finished. */
  queuedNs: number;
  /** Requests running now. */
  running: number;
}

/** Checks a POST /runs body completely; a refusal says why and names the field at fault. */
export function checkRequest(body: unknown, catalogue: Catalogue, budgets: Budgets, load: Load) {
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
  const b = budgets;
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
    if (load.queuedNs + workNs > b.maxQueuedNs)
      return refuse(
        413,
        `${workNs / 1e6} ms simulated more would exceed the queued budget of ${b.maxQueuedNs / 1e6} ms (${load.queuedNs / 1e6} ms queued; option maxQueued)`,
        "/",
      );
    if (load.running >= b.maxRuns)
      return refuse(
        429,
        `${load.running} run(s) in progress; at most ${b.maxRuns} at once (option maxRuns)`,
        "/",
      );
    return { req, raw, scn, table, runs: plan.runs.length, workNs };
  } catch (e) {
    if (e instanceof InputError) return refuse(400, e.message, fieldOf(e, req));
    throw e;
  }
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
