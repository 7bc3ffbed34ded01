/**
 * `definePlugin`: the one way to write a plugin. An identity helper (citty's `defineCommand`
 * trick): the TypeBox `options` schema types the `options` argument of `setup`, and the
 * `kind` types what `setup` must return. The result is frozen and branded, so the loader can
 * tell a plugin from any other export.
 *
 *   export default definePlugin({
 *     name: "first-fit",
 *     kind: "policy.global",
 *     version: "1.0.0",
 *     options: Type.Object({ maxPagesPerGuest: Type.Optional(Type.Integer({ minimum: 1 })) }),
 *     setup(ctx, options) {            // options: { maxPagesPerGuest?: number }
 *       return ({ windowPages }) => makePolicy(windowPages, options);
 *     },
 *   });
 *
 * Tip: give an option a `default` instead of wrapping it in `Type.Optional` and `setup` sees it
 * as always present (defaults are applied before validation).
 */

import {
  Kind,
  type Static,
  type StaticDecode,
  type TObject,
  type TSchema,
} from "@sinclair/typebox";
import type { ArgsDef, ParsedArgs } from "citty";
import { InputError } from "../../input/errors.ts";
import type { DeviceFactory, IoPath, Workload } from "../../model/domains/io.ts";
import type { GlobalPolicyFactory, LocalPolicyFactory } from "../../model/domains/policy.ts";
import type { EventBus } from "../../model/events/bus.ts";
import type { Rng } from "../../model/sim/rng.ts";
import type { PathMetrics, Report } from "../report/report.ts";
import type { Scenario } from "../scenario/define.ts";
import type { RunContext, RunInfo } from "../scenario/run-info.ts";
import type { CoreHooks, Hooks } from "./hooks.ts";

export const PLUGIN_KINDS = [
  "policy.global",
  "policy.local",
  "device",
  "workload",
  "path",
  "observer",
] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

/** Names: lower-case words with dashes, optionally one `scope/` prefix: `first-fit`, `acme/nic-x`. */
export const PLUGIN_NAME_PATTERN = /^[a-z][a-z0-9-]*(\/[a-z0-9-]+)?$/;

/** What `setup` returns, per kind (contracts: core/model/domains/policy.ts and io.ts; observers tap hooks.ts). */
export interface PluginProvides {
  "policy.global": GlobalPolicyFactory;
  "policy.local": LocalPolicyFactory;
  device: DeviceFactory;
  workload: Workload;
  path: IoPath;
  /** Observers watch a run through `ctx.hooks` and `ctx.bus` and provide nothing. */
  // biome-ignore lint/suspicious/noConfusingVoidType: lets `setup() { ... }` return nothing.
  observer: void;
}

/**
 * What an observer's `service` starts once and the runs share (a server): stopped after the
 * last run. `url` is printed where it listens; `hold` is back-pressure from clients that lose
 * nothing (`drain` between slices of a run, `end` after it).
 */
export interface PluginService {
  readonly url?: string;
  stop(): Promise<void>;
  hold?(paced: boolean): { drain: () => Promise<void> | undefined; end: () => void };
  /** Follows a sweep whose runs go to a queue's workers (`--queue`); see PluginCli.followsQueue. */
  follow?(sweep: QueuedSweep): SweepFollower;
}

/** A sweep run by a queue's workers, as a service following it sees it before it starts. */
export interface QueuedSweep {
  /** The queue's address as given (redis://host:port[/db]; it holds no credentials). */
  readonly queue: string;
  readonly scenario: Scenario;
  /** The `key=value` overrides it was started with. */
  readonly sets: readonly string[];
  /** Its runs in plan order (RunInfo.index is the position here). */
  readonly runs: readonly RunInfo[];
  /** Each run's simulated length (ns), in the same order. */
  readonly untilNs: readonly number[];
}

/**
 * What a service following a queued sweep is told, by run index, as the submitter hears it
 * from Redis. Everything here was checked by the submitter (indices in range, plain numbers,
 * metrics as plain data); `worker` is a `host:pid` label, never a name to look up.
 */
export interface SweepFollower {
  /** The submitter's id for the sweep (its jobs' prefix in Redis; provenance's `sweep`). */
  started(sweep: string): void;
  /** A worker posted the run's progress (simulated time reached, kernel events so far). */
  progress(index: number, p: { simulatedNs: number; events: number; worker?: string }): void;
  /** The run's result came back; it counts once, whatever the retries. */
  result(index: number, metrics: PathMetrics, by: { worker: string; wallMs: number }): void;
  /** The sweep ended: its report (the same as a local run's), or why not. */
  ended(outcome: { report: Report } | { error: string; cancelled: boolean }): void;
}

/** A seeded random stream handed to plugins by `ctx.rng(name)`. */
export type PluginRng = Rng;

/** What `setup` receives. `hooks` and `bus` are views that name this plugin in errors. */
export interface PluginContext<S = unknown> {
  readonly name: string;
  readonly hooks: Hooks<CoreHooks>;
  readonly bus: EventBus;
  /** The run this plugin is set up in; absent outside a run (the policy kit, tools). */
  readonly run?: RunContext;
  /** What the plugin's `service` started, when the run was handed it (see PluginSpec.service). */
  readonly service?: S;
  /** This plugin's own random stream `stream` (independent of every other plugin's streams). */
  rng(stream: string): PluginRng;
  log(message: string): void;
}

// biome-ignore lint/complexity/noBannedTypes: an object schema with no properties.
export type NoOptions = TObject<{}>;

/** What a plugin author writes. */
export interface PluginSpec<K extends PluginKind, O extends TSchema, S = undefined> {
  name: string;
  kind: K;
  /** Semver of the plugin itself. */
  version: string;
  description?: string;
  /** TypeBox schema of the options; defaults apply, errors name the path. */
  options?: O;
  /** Names of plugins that must be registered before this one. */
  requires?: readonly string[];
  /** Flags this plugin adds to `bun run scenario` (observers: the CLI starts it when they ask). */
  // biome-ignore lint/suspicious/noExplicitAny: each plugin's own flags (see definePluginCli).
  cli?: PluginCli<any, Partial<Static<O>>>;
  /**
   * Observers only: starts what outlives the runs (a server) once, before the first run, with
   * the plugin's validated options (see startService). Each run then registers the plugin in its
   * own host as any observer, and `setup` finds what this returned as `ctx.service`.
   */
  service?(options: StaticDecode<O>, log: (message: string) => void): S;
  setup(ctx: PluginContext<S>, options: StaticDecode<O>): PluginProvides[K];
}

/**
 * A plugin's command-line flags, declared as citty `args` (`defineCommand` style): the CLI
 * merges them into `bun run scenario run`, parses them strictly and hands them back here.
 *
 *   cli: {
 *     args: { serve: { type: "boolean", description: "serve the live feed" } },
 *     options: (flags) => (flags.serve ? {} : undefined),
 *   }
 */
export interface PluginCli<A extends ArgsDef, Opts> {
  args: A;
  /**
   * The plugin's options from the flags, or undefined when the flags leave the plugin off.
   * @throws InputError naming the flag for a value the schema cannot say is wrong (e.g. a flag
   * given without the one it qualifies)
   */
  options(flags: ParsedArgs<A>, command: PluginCliContext): Opts | undefined;
  /** Simulated time per wall time to keep while the plugin is on (a live view); default: as fast as possible. */
  pace?(flags: ParsedArgs<A>): number | undefined;
  /** Its service can follow a sweep that a queue's workers run (PluginService.follow). */
  followsQueue?: true;
}

/** What the command line holds besides a plugin's own flags. */
export interface PluginCliContext {
  /** The plugin files given with --plugin, as typed. */
  plugins: readonly string[];
}

/** Declares a plugin's flags with their literal types kept (`flags.serve` is a boolean). */
export function definePluginCli<const A extends ArgsDef, Opts = Record<string, unknown>>(
  cli: PluginCli<A, Opts>,
): PluginCli<A, Opts> {
  return cli;
}

/** Marks objects made by `definePlugin` (Symbol.for, so copies of the core agree). */
export const PLUGIN_BRAND: unique symbol = Symbol.for("sun4v-dvma/plugin") as typeof PLUGIN_BRAND;

export type Plugin<
  K extends PluginKind = PluginKind,
  O extends TSchema = TSchema,
  S = undefined,
> = Readonly<PluginSpec<K, O, S>> & {
  readonly [PLUGIN_BRAND]: true;
};

// biome-ignore lint/suspicious/noExplicitAny: any plugin, whatever its options.
export type AnyPlugin = Plugin<PluginKind, any, any>;

/** Defines a plugin: checks its shape, freezes and brands it. @throws InputError on a bad definition. */
export function definePlugin<
  const K extends PluginKind,
  O extends TSchema = NoOptions,
  S = undefined,
>(spec: PluginSpec<K, O, S>): Plugin<K, O, S> {
  const problems = definitionProblems(spec as unknown as PluginSpec<PluginKind, TSchema, unknown>);
  if (problems.length > 0) {
    const who = typeof spec?.name === "string" ? `plugin "${spec.name}"` : "plugin";
    throw new InputError(
      `definePlugin: ${who}: ${problems.join("; ")}`,
      problems.map((message) => ({ path: "", message, value: spec })),
    );
  }
  return Object.freeze({
    ...spec,
    requires: Object.freeze([...(spec.requires ?? [])]),
    [PLUGIN_BRAND]: true as const,
  });
}

function definitionProblems(spec: PluginSpec<PluginKind, TSchema, unknown>): string[] {
  if (typeof spec !== "object" || spec === null) return ["expected an object"];
  const p: string[] = [];
  if (typeof spec.name !== "string" || !PLUGIN_NAME_PATTERN.test(spec.name)) {
    p.push(
      `name ${JSON.stringify(spec.name)} must match ${PLUGIN_NAME_PATTERN} (lower-case letters, digits and dashes, optionally "scope/name")`,
    );
  }
  if (!(PLUGIN_KINDS as readonly string[]).includes(spec.kind)) {
    p.push(`kind ${JSON.stringify(spec.kind)} must be one of ${PLUGIN_KINDS.join(", ")}`);
  }
  if (typeof spec.version !== "string" || spec.version === "")
    p.push("version must be a non-empty string");
  if (spec.description !== undefined && typeof spec.description !== "string")
    p.push("description must be a string");
  if (typeof spec.setup !== "function") p.push("setup must be a function");
  if (
    spec.service !== undefined &&
    (typeof spec.service !== "function" || spec.kind !== "observer")
  )
    p.push("service must be a function, and only observers have one");
  if (
    spec.options !== undefined &&
    (typeof spec.options !== "object" || spec.options === null || !(Kind in spec.options))
  ) {
    p.push("options must be a TypeBox schema (e.g. Type.Object({...}))");
  }
  if (spec.cli !== undefined) {
    if (typeof spec.cli !== "object" || spec.cli === null || typeof spec.cli.args !== "object")
      p.push("cli must be { args, options(flags) }");
    else if (typeof spec.cli.options !== "function") p.push("cli.options must be a function");
  }
  if (spec.requires !== undefined) {
    if (!Array.isArray(spec.requires)) p.push("requires must be an array of plugin names");
    else {
      for (const r of spec.requires) {
        if (typeof r !== "string" || !PLUGIN_NAME_PATTERN.test(r))
          p.push(`requires: ${JSON.stringify(r)} is not a plugin name`);
      }
    }
  }
  return p;
}

/** True for objects made by `definePlugin`. */
export function isPlugin(x: unknown): x is AnyPlugin {
  return (
    typeof x === "object" && x !== null && (x as Record<symbol, unknown>)[PLUGIN_BRAND] === true
  );
}
