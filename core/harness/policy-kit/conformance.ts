/**
 * The conformance kit: runs an allocation-policy plugin through seeded random sequences and
 * reports, check by check, whether it keeps the contract of policy.ts. Any policy author can
 * run it (`bun run scenario check-policy ./my-policy.ts`); the built-ins pass it in the tests.
 *
 * The plugin is driven without a PluginHost: options parsed with their schema, `setup` called
 * with a minimal context, policies made by the factory it returns. Each policy sits behind the
 * checked wrappers (checked-policy.ts), so every answer is held to the window, the held ranges,
 * the alignment and the live grants, and a breach names the plugin, the call and the value.
 * On top the kit asks that `stats()` be finite numbers with `allocatedPages` exact, and:
 *  - local: requests limited below a page (a 32-bit device) get pages below it; after everything is freed (and every range removed and added back, which lets a
 *    policy flush per-CPU caches) the held pages can be allocated again, one by one; a page
 *    freed when all are allocated can be allocated again; a free aligned 16-page block can be
 *    allocated as one after fragmentation;
 *  - global: after everything is revoked and reclaimed the window fills to what a new policy
 *    grants; a page revoked when all are granted can be granted again to its domain; a ledger
 *    rebuild (`restore` of runs, revoked later in pieces) keeps grants off the restored pages.
 * Every call's meter records are checked too (meter-check.ts): declared locks and units, locks
 * released in the call that took them, bounded work, and work reported by each alloc or grant.
 * Frees and revokes always name what was handed out (or, after a rebuild, pieces of a run),
 * as the guest DMA API and the broker do.
 */

import { describeThrown, isInputError, PluginError } from "../../input/errors.ts";
import { formatValue, parseWithSchema } from "../../input/validate.ts";
import {
  type CheckedGlobalPolicy,
  type CheckedLocalPolicy,
  checkGlobalPolicy,
  checkLocalPolicy,
} from "../../model/domains/checked-policy.ts";
import {
  type GlobalPolicy,
  isRefusal,
  type LocalPolicy,
  type PolicyStats,
} from "../../model/domains/policy.ts";
import { EventBus } from "../../model/events/bus.ts";
import { fnv1a32, Rng } from "../../model/sim/rng.ts";
import { type AnyPlugin, isPlugin, type PluginContext } from "../plugin/define.ts";
import { type CoreHooks, Hooks } from "../plugin/hooks.ts";
import { CheckedMeter, meteredPolicy } from "./meter-check.ts";

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
}

const GUESTS = [1, 2, 3, 4] as const;
/** The control domain: asks for grants too, but is not in `guests`. */
const CONTROL = 0;
const CPUS = 4;
const STEPS = 200;
const BLOCK = 16;

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
  const create = (): unknown => {
    let policy: unknown;
    const meter = new CheckedMeter(name, windowPages);
    meters.push(meter);
    try {
      policy = (factory as (c: unknown) => unknown)({
        windowPages,
        guests: GUESTS,
        cpus: CPUS,
        meter,
      });
    } catch (e) {
      throw PluginError.wrap(name, "create", e);
    }
    for (const m of POLICY_METHODS[kind]) {
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

type Where = { at: string };
type CheckBody = (rng: Rng, where: Where) => string;
type Env = { name: string; windowPages: number; runs: number };

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

/** Stats must be finite numbers, allocatedPages must match the ledger. */
function expectStats(name: string, stats: PolicyStats, allocated: number): void {
  for (const [figure, v] of Object.entries(stats)) {
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new PluginError(name, "stats", `${figure} is ${formatValue(v)}, not a finite number`, {
        value: v,
      });
  }
  for (const figure of ["freePages", "allocations", "failures"] as const) {
    if (stats[figure] < 0)
      throw new PluginError(name, "stats", `${figure} is ${stats[figure]}, below 0`, {
        value: stats[figure],
      });
  }
  if (stats.allocatedPages !== allocated) {
    throw new PluginError(
      name,
      "stats",
      `allocatedPages is ${stats.allocatedPages}, but ${allocated} pages are allocated`,
      { value: stats.allocatedPages },
    );
  }
}

/** Mostly single pages, some small runs, a few large ones. */
function requestSize(rng: Rng, max: number): number {
  const r = rng.float();
  const n = r < 0.6 ? 1 : r < 0.85 ? rng.int(2, 9) : r < 0.95 ? rng.int(9, 41) : rng.int(41, 129);
  return Math.min(n, max);
}

function requestAlign(rng: Rng): number {
  return rng.chance(0.6) ? 1 : 2 ** rng.int(1, 7);
}

// ---- local policies ----

interface Span {
  base: number;
  npages: number;
}

class LocalDriver {
  readonly ranges: Span[] = [];
  readonly allocs: Span[] = [];

  constructor(
    readonly name: string,
    readonly policy: CheckedLocalPolicy,
    readonly rng: Rng,
  ) {}

  add(base: number, npages: number): void {
    this.policy.addRange(base, npages);
    this.ranges.push({ base, npages });
  }

  /** Adds a random range where nothing is held (sometimes right after a held one). */
  addSomewhere(): void {
    const w = this.policy.windowPages;
    const npages = this.rng.chance(0.7) ? this.rng.int(1, 65) : this.rng.int(65, (w >> 2) + 1);
    let base = this.rng.int(0, w - npages + 1);
    if (this.ranges.length > 0 && this.rng.chance(0.3)) {
      const r = this.rng.pick(this.ranges);
      base = Math.min(r.base + r.npages, w - npages);
    }
    for (let p = base; p < base + npages; p++) if (this.policy.stateOf(p) !== "none") return;
    this.add(base, npages);
  }

  alloc(npages: number, align: number, cpu: number, limit?: number): number {
    const page =
      limit === undefined
        ? this.policy.alloc(npages, align, cpu)
        : this.policy.alloc(npages, align, cpu, limit);
    if (page >= 0) this.allocs.push({ base: page, npages });
    return page;
  }

  freeAt(i: number): void {
    const a = this.allocs[i];
    this.allocs[i] = this.allocs[this.allocs.length - 1];
    this.allocs.pop();
    this.policy.free(a.base, a.npages, this.rng.int(0, CPUS));
  }

  freeAll(): void {
    while (this.allocs.length > 0) this.freeAt(this.rng.int(0, this.allocs.length));
  }

  /** Removes a held range, freeing the allocations that reach into it first. */
  removeAt(i: number): void {
    const r = this.ranges[i];
    for (let j = this.allocs.length - 1; j >= 0; j--) {
      const a = this.allocs[j];
      if (a.base < r.base + r.npages && a.base + a.npages > r.base) this.freeAt(j);
    }
    this.ranges.splice(i, 1);
    this.policy.removeRange(r.base, r.npages);
  }

  /** Removes every range and adds it back (a policy flushes its caches on removeRange). */
  cycleRanges(): void {
    const all = [...this.ranges];
    while (this.ranges.length > 0) this.removeAt(this.rng.int(0, this.ranges.length));
    for (const r of all) this.add(r.base, r.npages);
  }

  randomOps(steps: number, where: Where, label: string): void {
    for (let step = 0; step < steps; step++) {
      where.at = `${label}, step ${step}`;
      const r = this.rng.float();
      if (r < 0.08 || this.ranges.length === 0) this.addSomewhere();
      else if (r < 0.12) this.removeAt(this.rng.int(0, this.ranges.length));
      else if (r < 0.65 || this.allocs.length === 0) {
        const w = this.policy.windowPages;
        // A quarter of the requests come from a device that reaches only part of the window.
        const limit = this.rng.chance(0.25) ? this.rng.int(1, w + 1) : undefined;
        this.alloc(requestSize(this.rng, w), requestAlign(this.rng), this.rng.int(0, CPUS), limit);
      } else this.freeAt(this.rng.int(0, this.allocs.length));
      this.expectStats();
    }
  }

  /** Single-page allocations, rotating CPUs, until one fails; returns how many succeeded. */
  fill(): number {
    let n = 0;
    while (this.alloc(1, 1, n % CPUS) >= 0) n++;
    return n;
  }

  expectFilled(what: string): void {
    const free = this.policy.heldPages - this.policy.allocatedPages;
    const got = this.fill();
    if (got !== free) {
      throw new PluginError(
        this.name,
        "alloc",
        `returned -1 for alloc(npages 1, align 1) ${what}, with ${free - got} of ${this.policy.heldPages} held pages free`,
        { value: -1 },
      );
    }
  }

  expectStats(): void {
    expectStats(this.name, this.policy.stats(), this.policy.allocatedPages);
  }
}

function localChecks(env: Env, make: () => CheckedLocalPolicy): [string, CheckBody][] {
  const { name, windowPages: w, runs } = env;
  const driver = (rng: Rng) => new LocalDriver(name, make(), rng);
  return [
    [
      "random operations",
      (rng, where) => {
        let allocations = 0;
        for (let run = 0; run < runs; run++) {
          const d = driver(rng);
          d.randomOps(STEPS, where, `run ${run}`);
          allocations += d.policy.stats().allocations;
        }
        return `${runs} runs of ${STEPS} addRange/removeRange/alloc/free calls (${allocations} allocations), every answer inside the held ranges, aligned, never overlapping; stats exact`;
      },
    ],
    [
      "frees what it allocates",
      (rng, where) => {
        const n = Math.max(1, runs >> 2);
        for (let run = 0; run < n; run++) {
          const d = driver(rng);
          d.randomOps(STEPS / 2, where, `run ${run}`);
          where.at = `run ${run}, after freeing everything`;
          d.freeAll();
          d.expectStats();
          d.cycleRanges();
          d.expectFilled("after everything was freed");
          d.freeAll();
          d.expectStats();
        }
        return `${n} runs: after freeing everything stats show 0 allocated and every held page can be allocated again`;
      },
    ],
    [
      "survives exhaustion",
      (rng, where) => {
        const d = driver(rng);
        where.at = "filling three ranges";
        d.add(0, w >> 3);
        d.add(w >> 2, w >> 3);
        d.add(w - (w >> 3), w >> 3);
        d.expectFilled("while filling the held ranges");
        const held = d.policy.heldPages;
        for (const npages of [1, 2, 3, 8, 33, held, w]) {
          for (let cpu = 0; cpu < CPUS; cpu++) {
            where.at = `all ${held} pages allocated, alloc(${npages}) on cpu ${cpu}`;
            d.alloc(npages, 1, cpu);
            d.alloc(npages, 8, cpu);
          }
        }
        for (let i = 0; i < runs; i++) {
          const j = rng.int(0, d.allocs.length);
          const page = d.allocs[j].base;
          where.at = `all pages allocated but ${page}, freed on another cpu`;
          d.freeAt(j);
          if (d.alloc(1, 1, rng.int(0, CPUS)) < 0) {
            throw new PluginError(
              name,
              "alloc",
              `returned -1 for alloc(npages 1, align 1) with page ${page} free`,
              {
                value: -1,
              },
            );
          }
          d.expectStats();
        }
        return `all ${held} held pages allocated; further requests refused (-1, no throw); a page freed then is allocated again (${runs} times)`;
      },
    ],
    [
      "survives fragmentation",
      (rng, where) => {
        const d = driver(rng);
        const base = w >> 2;
        const span = w >> 1;
        where.at = "filling one range";
        d.add(base, span);
        d.expectFilled("while filling the range");
        where.at = "freeing every other page";
        for (let i = d.allocs.length - 1; i >= 0; i--) if (d.allocs[i].base % 2 === 0) d.freeAt(i);
        d.expectStats();
        for (const npages of [2, 4, BLOCK, span >> 2, span >> 1]) {
          where.at = `every other page free, alloc(${npages})`;
          d.alloc(npages, 1, rng.int(0, CPUS));
          d.alloc(npages, npages, rng.int(0, CPUS));
        }
        where.at = "every other page free, refilling the holes";
        d.expectFilled("into the holes of every other page");
        const block = base + (span >> 1);
        where.at = `pages [${block}, ${block + BLOCK}) freed, the rest allocated`;
        for (let i = d.allocs.length - 1; i >= 0; i--) {
          const p = d.allocs[i].base;
          if (p >= block && p < block + BLOCK) d.freeAt(i);
        }
        if (d.alloc(BLOCK, BLOCK, rng.int(0, CPUS)) < 0) {
          throw new PluginError(
            name,
            "alloc",
            `returned -1 for alloc(npages ${BLOCK}, align ${BLOCK}) with pages [${block}, ${block + BLOCK}) free`,
            { value: -1 },
          );
        }
        d.expectStats();
        where.at = "after freeing everything";
        d.freeAll();
        d.cycleRanges();
        d.expectFilled("after the fragmented range was freed");
        return `every other page of ${span} freed: larger requests refused or placed correctly, the holes refilled, a freed ${BLOCK}-page block allocated whole`;
      },
    ],
  ];
}

// ---- global policies ----

interface Grant extends Span {
  domain: number;
}

class GlobalDriver {
  readonly grants: Grant[] = [];

  constructor(
    readonly name: string,
    readonly policy: CheckedGlobalPolicy,
    readonly rng: Rng,
  ) {}

  grant(domain: number, npages: number, align: number): number {
    const got = this.policy.grant(domain, npages, align);
    if (isRefusal(got)) return -1;
    this.grants.push({ domain, base: got, npages });
    return got;
  }

  revokeAt(i: number): void {
    const g = this.grants[i];
    this.grants[i] = this.grants[this.grants.length - 1];
    this.grants.pop();
    this.policy.revoke(g.domain, g.base, g.npages);
  }

  /** The domain dies: its grants are revoked one by one, then it is reclaimed. */
  die(domain: number): void {
    for (let i = this.grants.length - 1; i >= 0; i--)
      if (this.grants[i].domain === domain) this.revokeAt(i);
    this.policy.reclaim(domain);
  }

  revokeAll(): void {
    for (const d of [CONTROL, ...GUESTS]) this.die(d);
  }

  randomOps(steps: number, where: Where, label: string): void {
    for (let step = 0; step < steps; step++) {
      where.at = `${label}, step ${step}`;
      const r = this.rng.float();
      if (r < 0.55 || this.grants.length === 0) {
        const domain = this.rng.chance(0.1) ? CONTROL : this.rng.pick(GUESTS);
        this.grant(domain, requestSize(this.rng, this.policy.windowPages), requestAlign(this.rng));
      } else if (r < 0.95) this.revokeAt(this.rng.int(0, this.grants.length));
      else this.die(this.rng.pick(GUESTS));
      this.expectStats();
    }
  }

  /** Single-page grants round-robin over the guests until every guest is refused. */
  fill(): number {
    let n = 0;
    const open = new Set<number>(GUESTS);
    while (open.size > 0 && n <= this.policy.windowPages) {
      for (const d of [...open]) {
        if (this.grant(d, 1, 1) >= 0) n++;
        else open.delete(d);
      }
    }
    return n;
  }

  expectStats(): void {
    expectStats(this.name, this.policy.stats(), this.policy.livePages());
  }
}

function globalChecks(env: Env, make: () => CheckedGlobalPolicy): [string, CheckBody][] {
  const { name, windowPages: w, runs } = env;
  const driver = (rng: Rng) => new GlobalDriver(name, make(), rng);
  let fresh = -1;
  /** Pages a new policy grants before refusing every guest. */
  const freshFill = (rng: Rng, where: Where): number => {
    where.at = "filling a new policy";
    if (fresh < 0) fresh = driver(rng).fill();
    if (fresh === 0)
      throw new PluginError(name, "grant", "refused every single-page grant in an empty window");
    return fresh;
  };
  const expectRefill = (d: GlobalDriver, expected: number, what: string) => {
    const got = d.fill();
    if (got !== expected) {
      throw new PluginError(
        name,
        "grant",
        `the window filled to ${got} pages ${what}; a new policy fills it to ${expected}`,
        { value: got },
      );
    }
  };
  return [
    [
      "random operations",
      (rng, where) => {
        let grants = 0;
        for (let run = 0; run < runs; run++) {
          const d = driver(rng);
          d.randomOps(STEPS, where, `run ${run}`);
          grants += d.policy.stats().allocations;
        }
        return `${runs} runs of ${STEPS} grant/revoke/reclaim calls for ${GUESTS.length} guests and the control domain (${grants} grants), every grant inside the window, aligned, never overlapping; stats exact`;
      },
    ],
    [
      "frees what it grants",
      (rng, where) => {
        const full = freshFill(rng, where);
        const n = Math.max(1, runs >> 2);
        for (let run = 0; run < n; run++) {
          const d = driver(rng);
          d.randomOps(STEPS / 2, where, `run ${run}`);
          where.at = `run ${run}, after revoking everything`;
          d.revokeAll();
          d.expectStats();
          expectRefill(d, full, "after everything was revoked");
        }
        return `${n} runs: after revoking and reclaiming everything stats show 0 granted and the window fills again to ${full} of ${w} pages`;
      },
    ],
    [
      "survives exhaustion",
      (rng, where) => {
        const full = freshFill(rng, where);
        const d = driver(rng);
        where.at = "filling the window";
        expectRefill(d, full, "from new");
        for (const npages of [1, 2, 8, w]) {
          for (const domain of [CONTROL, ...GUESTS]) {
            where.at = `window full, grant(domain ${domain}, ${npages})`;
            const got = d.grant(domain, npages, 1);
            if (got >= 0 && domain !== CONTROL) {
              throw new PluginError(
                name,
                "grant",
                `granted ${got} to guest ${domain}, which had already been refused`,
                {
                  value: got,
                },
              );
            }
          }
        }
        for (let i = 0; i < runs; i++) {
          const j = rng.int(0, d.grants.length);
          const { domain, base } = d.grants[j];
          where.at = `window full but page ${base}, revoked from domain ${domain}`;
          d.revokeAt(j);
          if (d.grant(domain, 1, 1) < 0) {
            throw new PluginError(
              name,
              "grant",
              `refused grant(domain ${domain}, 1) with page ${base} just revoked from it`,
            );
          }
          d.expectStats();
        }
        return `window full (${full} pages): further grants refused with a reason, no throw; a page revoked then is granted again (${runs} times)`;
      },
    ],
    [
      "survives fragmentation",
      (rng, where) => {
        const full = freshFill(rng, where);
        const d = driver(rng);
        where.at = "filling the window";
        expectRefill(d, full, "from new");
        where.at = "revoking every other page";
        for (let i = d.grants.length - 1; i >= 0; i--)
          if (d.grants[i].base % 2 === 0) d.revokeAt(i);
        d.expectStats();
        for (const npages of [2, 4, BLOCK, w >> 3]) {
          for (const domain of GUESTS) {
            where.at = `every other page free, grant(domain ${domain}, ${npages})`;
            d.grant(domain, npages, 1);
            d.grant(domain, npages, npages);
          }
        }
        where.at = "every other page free, refilling the holes";
        d.fill();
        d.expectStats();
        where.at = "after revoking everything";
        d.revokeAll();
        if (d.grant(GUESTS[0], BLOCK, BLOCK) < 0) {
          throw new PluginError(
            name,
            "grant",
            `refused grant(domain ${GUESTS[0]}, ${BLOCK} pages, align ${BLOCK}) in an empty window`,
          );
        }
        d.revokeAll();
        expectRefill(d, full, "after the fragmented window was revoked");
        return `every other page revoked: larger grants refused or placed correctly, holes refilled; after revoking everything a ${BLOCK}-page aligned grant succeeds and the window fills again`;
      },
    ],
    [
      "restore and reclaim",
      (rng, where) => {
        const full = freshFill(rng, where);
        const n = Math.max(1, runs >> 2);
        for (let run = 0; run < n; run++) {
          const d = driver(rng);
          where.at = `run ${run}, rebuilding the ledger`;
          const restored: Grant[] = [];
          for (let p = rng.int(0, 16); p < w; ) {
            const npages = Math.min(rng.int(1, 40), w - p);
            const domain = rng.chance(0.15) ? CONTROL : rng.pick(GUESTS);
            const last = restored[restored.length - 1];
            // Runs as dvma_info reports them: adjacent pages of one owner come back as one.
            if (last?.domain === domain && last.base + last.npages === p) last.npages += npages;
            else restored.push({ domain, base: p, npages });
            p += npages + (rng.chance(0.4) ? 0 : rng.int(1, 48));
          }
          for (const r of restored) d.policy.restore(r.domain, r.base, r.npages);
          d.expectStats();
          where.at = `run ${run}, granting around the restored runs`;
          for (let i = 0; i < 60; i++) {
            d.grant(rng.pick(GUESTS), requestSize(rng, w), requestAlign(rng));
            d.expectStats();
          }
          where.at = `run ${run}, revoking the restored runs in pieces`;
          for (const r of restored) {
            for (let p = r.base; p < r.base + r.npages; ) {
              const piece = Math.min(rng.int(1, 12), r.base + r.npages - p);
              d.policy.revoke(r.domain, p, piece);
              p += piece;
              d.expectStats();
            }
          }
          where.at = `run ${run}, after revoking everything`;
          d.revokeAll();
          d.expectStats();
          expectRefill(d, full, "after a rebuild was revoked");
        }
        return `${n} rebuilds: grants keep off restored runs, runs revoked in pieces, reclaim leaves 0 granted and the window fills again`;
      },
    ],
  ];
}
