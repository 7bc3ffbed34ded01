/**
 * The conformance kit in a worker, so a policy call that never returns (a synchronous loop) can
 * be stopped from outside. Before and after each call into the policy the worker writes to a
 * shared array the parent watches: [calls started, method in progress (index + 1, 0 = none)].
 */

import { type AnyPlugin, definePlugin } from "../harness/plugin/define.ts";
import { loadPlugin } from "../harness/plugin/loader.ts";
import { formatConformance, runConformance } from "../harness/policy-kit/conformance.ts";
import { describeThrown, InputError } from "../input/errors.ts";
import { type CheckPolicyJob, type CheckPolicyResult, WATCHED } from "./check-policy.ts";

declare const self: Worker;

/** `plugin` with its setup, its factory and every call into what that makes counted in `calls`. */
function watched(plugin: AnyPlugin, calls: Int32Array): AnyPlugin {
  const timed = <T>(method: string, fn: () => T): T => {
    Atomics.add(calls, 0, 1);
    Atomics.store(calls, 1, WATCHED.indexOf(method as never) + 1);
    try {
      return fn();
    } finally {
      Atomics.store(calls, 1, 0);
    }
  };
  return definePlugin({
    ...plugin,
    setup(ctx, options) {
      const factory = timed("setup", () => plugin.setup(ctx, options)) as unknown;
      if (typeof factory !== "function") return factory as never;
      return ((fctx: unknown) => {
        const policy = timed("create", () => factory(fctx)) as Record<string, unknown>;
        if (typeof policy !== "object" || policy === null) return policy;
        return new Proxy(policy, {
          get(target, key) {
            const v = Reflect.get(target, key);
            if (typeof v !== "function" || typeof key !== "string") return v;
            return (...args: unknown[]) => timed(key, () => v.apply(target, args));
          },
        });
      }) as never;
    },
  });
}

/** The policy plugin `spec` names, its import watched like a call. @throws InputError */
async function load(job: CheckPolicyJob): Promise<AnyPlugin> {
  Atomics.add(job.calls, 0, 1);
  Atomics.store(job.calls, 1, WATCHED.indexOf("import") + 1);
  const plugin = await loadPlugin(job.spec, { cwd: job.cwd }).finally(() =>
    Atomics.store(job.calls, 1, 0),
  );
  if (plugin.kind !== "policy.global" && plugin.kind !== "policy.local")
    throw new InputError(
      `"${job.spec}" is a plugin of kind ${plugin.kind}; check-policy checks policy.global and policy.local plugins`,
    );
  return plugin;
}

self.onmessage = async (e: MessageEvent<CheckPolicyJob>) => {
  const job = e.data;
  let result: CheckPolicyResult;
  try {
    const plugin = await load(job);
    self.postMessage({ type: "loaded", name: plugin.name } satisfies CheckPolicyResult);
    const report = runConformance(watched(plugin, job.calls), { seed: job.seed });
    result = { type: "done", text: formatConformance(report), passed: report.passed };
  } catch (err) {
    // A missing file, a syntax error or another kind of plugin is bad input, as before a run.
    result = { type: err instanceof InputError ? "input" : "error", message: describeThrown(err) };
  }
  self.postMessage(result);
};
