import type { PathMetrics } from "../report/report.ts";

/**
 * What travels through Redis. A job names its scenario and plugins by registered name and
 * content hash, never by path: a worker runs only what it has itself (built-ins and its own
 * `--plugin` files) and checks the hashes before it runs anything.
 */

/** The one BullMQ queue every sweep uses; a job's `sweep` says which sweep it belongs to. */
export const QUEUE_NAME = "sun4v-dvma-sweeps";
/** Runs a point whose thread died this many times before its sweep ends with the reason (assumed). */
export const ATTEMPTS = 3;
/**
 * A worker holds a job's lock this long and renews it at half that; a worker silent for longer
 * (killed, host down) has its job handed to another worker by BullMQ's stalled-job check, which
 * runs every STALLED_CHECK_MS (both assumed: above a busy host's event-loop pauses, short enough
 * that a lost worker costs seconds).
 */
export const LOCK_MS = 10_000;
export const STALLED_CHECK_MS = 5_000;
/** A job may be found stalled this many times (a busy, not dead, worker) before it fails (assumed). */
export const MAX_STALLED = 2;

/** Starts the reason of a point that failed on bad input (reported as input, exit 2, not retried). */
export const INPUT_PREFIX = "bad input: ";
/**
 * Starts the reason of a point a plugin failed; then the plugin's own line, `[plugin <name>]
 * <hook>: <message>` (reported as a plugin error, exit 3, as in a local run).
 */
export const PLUGIN_PREFIX = "plugin error: ";

/** What a PLUGIN_PREFIX reason says (plugin, hook, its message), or undefined for any other. */
export function pluginOfReason(
  reason: string,
): { plugin: string; hook: string; message: string } | undefined {
  if (!reason.startsWith(PLUGIN_PREFIX)) return undefined;
  const m = /^\[plugin ([^\]]+)\] ([^:]+): (.*)$/s.exec(reason.slice(PLUGIN_PREFIX.length));
  return m === null ? undefined : { plugin: m[1]!, hook: m[2]!, message: m[3]! };
}

/** Redis key that marks a sweep as wanted; jobs of a sweep without it are dropped by workers. */
export const sweepKey = (sweep: string) => `${QUEUE_NAME}:sweep:${sweep}`;
/** Submitter refreshes the key's time to live this often, so an abandoned sweep's jobs expire. */
export const SWEEP_HEARTBEAT_MS = 2_000;
export const SWEEP_TTL_S = 60;

export interface NamedHash {
  name: string;
  /** Content hash of the file that defines it (hex). */
  hash: string;
}

export interface PointJob {
  sweep: string;
  /** Index into the sweep's run plan (every matrix point times every path). */
  index: number;
  /** How many runs the plan has (the worker checks it plans the same). */
  runs: number;
  scenario: NamedHash;
  /** `key=value` overrides, applied in order (seed and duration included). */
  sets: string[];
  /** Every plugin the sweep uses, sorted by name. */
  plugins: NamedHash[];
}

export interface PointResult {
  metrics: PathMetrics;
  events: number;
  /** Which worker ran it (host:pid) and for how long, in wall milliseconds. */
  worker: string;
  wallMs: number;
}

/** Progress a worker posts while a point runs. */
export interface PointProgress {
  simulatedNs: number;
  events: number;
  /** Which worker runs it (host:pid), for a live view; absent from older workers. */
  worker?: string;
}

/** A job id: unique per sweep and point, so re-adding a point is a no-op. */
export const jobId = (sweep: string, index: number) => `${sweep}.${index}`;

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isHash = (v: unknown): v is NamedHash =>
  isObj(v) &&
  typeof v.name === "string" &&
  typeof v.hash === "string" &&
  /^[0-9a-f]+$/.test(v.hash);
/** Keys that would reach a prototype if a decoded object were ever assigned property by property. */
const FORBIDDEN = new Set(["__proto__", "constructor", "prototype"]);

/** Only plain JSON data: objects, arrays, finite numbers, strings, booleans, null. */
function isPlainData(v: unknown, depth = 0): boolean {
  if (depth > 8) return false;
  if (v === null || typeof v === "string" || typeof v === "boolean") return true;
  if (typeof v === "number") return Number.isFinite(v);
  if (Array.isArray(v)) return v.every((x) => isPlainData(x, depth + 1));
  if (!isObj(v)) return false;
  return Object.entries(v).every(([k, x]) => !FORBIDDEN.has(k) && isPlainData(x, depth + 1));
}

/** A job's data as a worker receives it, or why it is refused. */
export function decodeJob(data: unknown): PointJob | string {
  if (!isObj(data)) return "job data is not an object";
  const { sweep, index, runs, scenario, sets, plugins } = data;
  if (typeof sweep !== "string" || !/^[\w-]{1,64}$/.test(sweep)) return "job has no valid sweep id";
  if (!isCount(index) || !isCount(runs) || index >= runs) return "job index out of range";
  if (!isHash(scenario)) return "job names no scenario";
  if (!Array.isArray(sets) || !sets.every((s) => typeof s === "string"))
    return "job sets are not strings";
  if (!Array.isArray(plugins) || !plugins.every(isHash)) return "job plugins are not named";
  return { sweep, index, runs, scenario, sets, plugins };
}

/** A worker's label as it names itself: `host:pid`, printable, short. */
const isWorker = (v: unknown): v is string =>
  typeof v === "string" && /^[\w.:@[\]-]{1,255}$/.test(v);

/** Progress as the submitter receives it; anything else is ignored (progress is best effort). */
export function decodeProgress(data: unknown): PointProgress | undefined {
  if (!isObj(data)) return undefined;
  const { simulatedNs, events, worker } = data;
  if (typeof simulatedNs !== "number" || !(simulatedNs >= 0) || !Number.isFinite(simulatedNs))
    return undefined;
  if (!isCount(events)) return undefined;
  return isWorker(worker) ? { simulatedNs, events, worker } : { simulatedNs, events };
}

/** A result as the submitter receives it, or why it is refused. */
export function decodeResult(data: unknown): PointResult | string {
  if (!isObj(data) || !isPlainData(data)) return "result is not plain data";
  const { metrics, events, worker, wallMs } = data;
  if (!isObj(metrics) || typeof metrics.ios !== "number" || !isObj(metrics.cpu))
    return "result has no metrics";
  if (!isCount(events)) return "result has no event count";
  if (!isWorker(worker) || !isCount(wallMs)) return "result names no worker";
  return { metrics: metrics as unknown as PathMetrics, events, worker, wallMs };
}
