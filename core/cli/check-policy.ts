/**
 * `bun run scenario check-policy <policy>`: the conformance kit on a policy, in a worker with a
 * per-call watchdog (the import of the file, the plugin's setup and every call into the policy).
 * A synchronous endless loop cannot be interrupted from inside, so the parent watches the
 * worker's call counter and terminates it when one call outlasts the limit.
 */

import { durationNs } from "../harness/scenario/define.ts";
import { InputError } from "../input/errors.ts";
import { type CliArgsDef, parseStrict } from "./args.ts";
import type { CliIo } from "./io.ts";
import { durationFlag, seedFlag } from "./values.ts";

export const CHECK_POLICY_ARGS = {
  policy: { type: "positional", required: false, description: "a policy file or built-in name" },
  seed: { type: "string", description: "seed of the kit's random call sequences (integer)" },
  timeout: {
    type: "string",
    description: "longest a single policy call may take, with a unit (default 2s)",
  },
} as const satisfies CliArgsDef;

export interface CheckPolicyJob {
  spec: string;
  cwd: string;
  seed?: number;
  /** Int32Array over a SharedArrayBuffer: [calls started, method index + 1 or 0]. */
  calls: Int32Array;
}

export type CheckPolicyResult =
  | { type: "loaded"; name: string }
  | { type: "done"; text: string; passed: boolean }
  | { type: "input"; message: string }
  | { type: "error"; message: string };

/** Method names the watchdog can report (index + 1 is written while one runs). */
export const WATCHED = [
  "import",
  "setup",
  "create",
  "grant",
  "revoke",
  "reclaim",
  "restore",
  "addRange",
  "removeRange",
  "alloc",
  "free",
  "stats",
] as const;

const WORKER_URL = new URL("./check-policy-worker.ts", import.meta.url);
const POLL_MS = 20;
/**
 * The import is no policy call: it gets its own limit, long enough for a cold load of the core
 * in a fresh worker on a loaded machine (seen above 300 ms at load 10). Host clock.
 */
const IMPORT_LIMIT_MS = 10_000;

export async function checkPolicyCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseStrict(CHECK_POLICY_ARGS, argv);
  if (args.policy === undefined)
    throw new InputError(
      "check-policy needs a policy: bun run scenario check-policy ./my-policy.ts (or a built-in name)",
    );
  const seed = seedFlag(args.seed);
  const limitNs = durationNs(durationFlag("timeout", args.timeout) ?? "2s");
  const calls = new Int32Array(new SharedArrayBuffer(8));
  // Even the import runs in the worker, watched: a policy file can loop at its top level too.
  const result = await watch(
    { spec: args.policy, cwd: process.cwd(), seed, calls } satisfies CheckPolicyJob,
    limitNs / 1e6,
  );
  if (result.type === "hung") {
    io.out.write(
      `${result.name}: FAIL  ${result.method} (call ${result.call}) did not return within ${result.method === "import" ? `${IMPORT_LIMIT_MS / 1000}s` : (args.timeout ?? "2s")}; stopped\n`,
    );
    return 1;
  }
  if (result.type === "input") throw new InputError(result.message);
  if (result.type === "error") throw new Error(result.message);
  io.out.write(`${result.text}\n`);
  return result.passed ? 0 : 1;
}

type Watched =
  | Exclude<CheckPolicyResult, { type: "loaded" }>
  | { type: "hung"; name: string; method: string; call: number };

/**
 * Runs the job in a worker; terminates it when the import or one policy call outlasts
 * `limitMs` of wall time. A hang is named by the plugin's name, or by the file before it loaded.
 */
function watch(job: CheckPolicyJob, limitMs: number): Promise<Watched> {
  const worker = new Worker(WORKER_URL);
  return new Promise<Watched>((resolve) => {
    let name = job.spec;
    let seenCall = -1;
    let since = 0;
    const finish = (r: Watched) => {
      clearInterval(timer);
      worker.terminate();
      resolve(r);
    };
    const timer = setInterval(() => {
      const call = Atomics.load(job.calls, 0);
      const method = Atomics.load(job.calls, 1);
      const now = performance.now(); // host clock: the watchdog measures wall time
      if (method === 0 || call !== seenCall) {
        seenCall = method === 0 ? -1 : call;
        since = now;
        return;
      }
      const what = WATCHED[method - 1]!;
      if (now - since > (what === "import" ? IMPORT_LIMIT_MS : limitMs))
        finish({ type: "hung", name, method: what, call });
    }, POLL_MS);
    worker.onmessage = (e: MessageEvent<CheckPolicyResult>) => {
      if (e.data.type === "loaded") name = e.data.name;
      else finish(e.data);
    };
    worker.onerror = (e) => finish({ type: "error", message: e.message });
    worker.postMessage(job);
  });
}
