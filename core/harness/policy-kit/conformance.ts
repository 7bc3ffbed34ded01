/**
 * The conformance kit: runs an allocation-policy plugin through seeded random sequences and
 * reports, check by check, whether it keeps the contract of policy.ts. Any policy author can
 * run it (`bun run scenario check-policy ./my-policy.ts`); the built-ins pass it in the tests.
 *
 * The plugin is driven without a PluginHost: options parsed with their schema, `setup` called
 * with a minimal context, policies made by the factory it returns. Each policy sits behind the
 * checked wrappers (checked-policy.ts), so every answer is held to the window, the held ranges,
 * the alignment and the live grants, and a breach names the plugin, the call and the value.
 * On top the kit asks that `stats()` (when the policy has one) be finite numbers with `allocatedPages` exact, and:
 *  - local: requests limited below a page (a 32-bit device) get pages below it; after everything is freed (and every range removed and added back, which lets a
 *    policy flush per-CPU caches) the held pages can be allocated again, one by one; a page
 *    freed when all are allocated can be allocated again; a free aligned 16-page block can be
 *    allocated as one after fragmentation;
 *  - global: after everything is revoked and reclaimed the window fills to what a new policy
 *    grants; a page revoked when all are granted can be granted again to its domain; a ledger
 *    rebuild (`restore` of runs, revoked later in pieces) keeps grants off the restored pages.
 * Every call's meter records are checked too (meter-check.ts): declared locks and units, locks
 * released in the call that took them, bounded work, and work reported by each alloc or grant.
 * Last, the policy is timed on the real 262,144-page window (speed.ts): calls per second, and
 * the check fails when one `default` run would spend more than 10 s in it.
 * Frees and revokes always name what was handed out (or, after a rebuild, pieces of a run),
 * as the guest DMA API and the broker do.
 */

import { describeThrown, isInputError, PluginError } from "../../input/errors.ts";
import { formatValue, parseWithSchema } from "../../input/validate.ts";
import { checkGlobalPolicy } from "../../model/domains/checked-global.ts";
import { checkLocalPolicy } from "../../model/domains/checked-local.ts";
import type { GlobalPolicy, LocalPolicy } from "../../model/domains/policy.ts";
import { EventBus } from "../../model/events/bus.ts";
import { fnv1a32, Rng } from "../../model/sim/rng.ts";
import { type AnyPlugin, isPlugin, type PluginContext } from "../plugin/define.ts";
import { type CoreHooks, Hooks } from "../plugin/hooks.ts";
import { globalChecks } from "./global-checks.ts";
import { CPUS, GUESTS } from "./kit-common.ts";
import { localChecks } from "./local-checks.ts";
import { CheckedMeter, meteredPolicy } from "./meter-check.ts";
import {
  describeSpeed,
  globalSpeed,
  localSpeed,
  REAL_WINDOW_PAGES,
  type SpeedResult,
} from "./speed.ts";

export interface ConformanceOptions {
  /** Pages in the window the policies get (default 1024, at least 64). */
  windowPages?: number;
  /** Seed of every random sequence (default 1): the same seed replays the same calls. */
  seed?: number;
  /** Random sequences per check (default 20). */
  runs?: number;
  /** The plugin's options (validated against its schema; defaults apply). */
  options?: unknown;
}

export interface ConformanceCheck {
  name: string;
  passed: boolean;
  /** What was exercised, or what went wrong (naming the plugin, the call and the value). */
  detail: string;
}

export interface ConformanceReport {
  plugin: string;
  version: string;
  kind: string;
  windowPages: number;
  seed: number;
  runs: number;
  passed: boolean;
  checks: ConformanceCheck[];
  /** Calls per second on the real 262,144-page window, and what a `default` run would spend. */
  speed?: SpeedResult;
}

const POLICY_METHODS = {
  "policy.global": ["grant", "revoke", "reclaim", "restore", "stats"],
  "policy.local": ["addRange", "removeRange", "alloc", "free", "stats"],
} as const;

/** Checks `plugin` against the policy contract. Never throws for a broken plugin: see `passed`. */
export function runConformance(
  plugin: AnyPlugin,
  opts: ConformanceOptions = {},
): ConformanceReport {
  const windowPages = opts.windowPages ?? 1024;
  const seed = opts.seed ?? 1;
  const runs = opts.runs ?? 20;
  if (!Number.isInteger(windowPages) || windowPages < 64)
    throw new RangeError(`windowPages must be an integer ≥ 64, got ${windowPages}`);
  if (!Number.isInteger(runs) || runs < 1)
    throw new RangeError(`runs must be a positive integer, got ${runs}`);
  const name = isPlugin(plugin) ? plugin.name : "(not a plugin)";
  const report: ConformanceReport = {
    plugin: name,
    version: isPlugin(plugin) ? plugin.version : "",
    kind: isPlugin(plugin) ? plugin.kind : "",
    windowPages,
    seed,
    runs,
    passed: false,
    checks: [],
  };
  const record = (check: string, passed: boolean, detail: string) =>
    report.checks.push({ name: check, passed, detail });

  if (!isPlugin(plugin)) {
    record("plugin", false, "not a plugin (make it with definePlugin)");
    return report;
  }
  const kind = plugin.kind;
  if (kind !== "policy.global" && kind !== "policy.local") {
    record(
      "kind",
      false,
      `[plugin ${name}] kind is ${kind}; the kit checks policy.global and policy.local plugins`,
    );
    return report;
  }

  let factory: unknown;
  let options: unknown = {};
  try {
    if (plugin.options !== undefined)
      options = parseWithSchema(plugin.options, opts.options, `plugin "${name}" option `);
    factory = plugin.setup(minimalContext(name, seed), options as never);
  } catch (e) {
    // Bad options already say which plugin and option; anything else is the plugin's own throw.
    record(
      "setup",
      false,
      isInputError(e) ? e.message : PluginError.wrap(name, "setup", e).message,
    );
    return report;
  }
  if (typeof factory !== "function") {
    record(
      "setup",
      false,
      `[plugin ${name}] setup: returned ${formatValue(factory)}, not a policy factory (ctx) => policy`,
    );
    return report;
  }
  record("setup", true, `options ${formatValue(options)}`);

  const env = { name, windowPages, runs };
  const meters: CheckedMeter[] = [];
  const create = (window = windowPages): unknown => {
    let policy: unknown;
    const meter = new CheckedMeter(name, window);
    if (window === windowPages) meters.push(meter);
    try {
      policy = (factory as (c: unknown) => unknown)({
        windowPages: window,
        guests: GUESTS,
        cpus: CPUS,
        meter,
      });
    } catch (e) {
      throw PluginError.wrap(name, "create", e);
    }
    for (const m of POLICY_METHODS[kind]) {
      if (m === "stats") continue; // optional: the checked wrapper answers for a policy without it
      if (typeof (policy as Record<string, unknown> | null)?.[m] !== "function")
        throw new PluginError(name, "create", `the policy has no ${m}() method`, { value: policy });
    }
    return meteredPolicy(policy as object, meter, POLICY_METHODS[kind]);
  };
  const checks =
    kind === "policy.local"
      ? localChecks(env, () => checkLocalPolicy(name, create() as LocalPolicy, windowPages))
      : globalChecks(env, () => checkGlobalPolicy(name, create() as GlobalPolicy, windowPages));
  for (const [check, body] of checks) {
    const rng = new Rng(seed, fnv1a32(check));
    const where = { at: "" };
    try {
      record(check, true, body(rng, where));
    } catch (e) {
      const context = where.at === "" ? "" : ` (${where.at}; seed ${seed})`;
      record(check, false, describeThrown(e) + context);
    }
  }
  speedCheck(report, kind, name, seed, create);
  const calls = meters.reduce((a, m) => a + m.calls, 0);
  const most = meters.reduce((a, m) => Math.max(a, m.maxWork), 0);
  const declared = meters[0] === undefined ? "" : describeDeclared(meters[0]);
  const failed = meters.reduce((a, m) => a + m.failures, 0);
  record(
    "meter",
    failed === 0,
    failed === 0
      ? `${calls} calls checked after each: ${declared}; locks released in the call that took them, work at most ${most} units per call (bound ${meters[0]?.bound ?? 0})`
      : `${failed} calls broke a meter rule (see the checks above)`,
  );
  report.passed = report.checks.every((c) => c.passed);
  return report;
}

/** The speed check on the real window (speed.ts): its figures go in `report.speed`. */
function speedCheck(
  report: ConformanceReport,
  kind: "policy.global" | "policy.local",
  name: string,
  seed: number,
  create: (window: number) => unknown,
): void {
  const w = REAL_WINDOW_PAGES;
  try {
    const speed =
      kind === "policy.local"
        ? localSpeed(checkLocalPolicy(name, create(w) as LocalPolicy, w), new Rng(seed, 7))
        : globalSpeed(checkGlobalPolicy(name, create(w) as GlobalPolicy, w));
    report.speed = speed;
    report.checks.push({ name: "speed", passed: !speed.tooSlow, detail: describeSpeed(speed) });
  } catch (e) {
    report.checks.push({ name: "speed", passed: false, detail: describeThrown(e) });
  }
}

function describeDeclared(m: CheckedMeter): string {
  if (m.locks.length + m.units.length === 0)
    return "no locks or units declared (charged one call unit each)";
  const locks =
    m.locks.length > 3
      ? `${m.locks.length} locks`
      : m.locks.map((l) => `${l.kind} lock "${l.name}"`).join(", ");
  return `${locks || "no locks"}, units ${m.units.map((u) => `"${u}"`).join(", ") || "none"}`;
}

/** The report as text: one line per check, then a summary. */
export function formatConformance(report: ConformanceReport): string {
  const head =
    `policy conformance: ${report.plugin}${report.version ? ` ${report.version}` : ""}` +
    `${report.kind ? ` (${report.kind})` : ""}, window ${report.windowPages} pages, ` +
    `seed ${report.seed}, ${report.runs} runs`;
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = report.checks.map(
    (c) =>
      `  ${c.passed ? "ok  " : "FAIL"}  ${c.name.padEnd(width)}  ${c.detail.replaceAll("\n", `\n${" ".repeat(width + 10)}`)}`,
  );
  const passed = report.checks.filter((c) => c.passed).length;
  const tail = report.passed
    ? `${report.plugin}: all ${passed} checks passed`
    : `${report.plugin}: ${report.checks.length - passed} of ${report.checks.length} checks FAILED`;
  return [head, ...lines, tail].join("\n");
}

function minimalContext(name: string, seed: number): PluginContext {
  const streams = new Map<string, Rng>();
  return Object.freeze({
    name,
    hooks: new Hooks<CoreHooks>().scoped(name),
    bus: new EventBus(() => 0).scoped(name),
    rng: (stream: string) => {
      let r = streams.get(stream);
      if (r === undefined) {
        r = new Rng(seed, fnv1a32(`plugin:${name}:${stream}`));
        streams.set(stream, r);
      }
      return r;
    },
    log: () => {},
  });
}
