/**
 * The plugin host: registers plugins in order, checks their dependencies (Fastify style),
 * validates their options against their schema, runs `setup` with a context scoped to the
 * plugin, and keeps what each one provides. An observer whose `service` was started (startService)
 * is handed it here, in each run's own host, as `ctx.service`.
 *
 * Policy plugins are guarded: the factory a `policy.*` plugin returns is wrapped so every
 * policy it creates sits behind `checkGlobalPolicy` / `checkLocalPolicy` (turn that off with
 * `checkPolicies: false`, e.g. for benchmarks of the policy itself).
 */

import type { TSchema } from "@sinclair/typebox";
import { InputError, PluginError } from "../../input/errors.ts";
import { formatValue, parseWithSchema } from "../../input/validate.ts";
import { checkGlobalPolicy } from "../../model/domains/checked-global.ts";
import { checkLocalPolicy } from "../../model/domains/checked-local.ts";
import type {
  GlobalPolicy,
  GlobalPolicyContext,
  GlobalPolicyFactory,
  LocalPolicy,
  LocalPolicyContext,
  LocalPolicyFactory,
} from "../../model/domains/policy.ts";
import type { EventBus } from "../../model/events/bus.ts";
import type { RunContext } from "../scenario/run-info.ts";
import {
  type AnyPlugin,
  isPlugin,
  type Plugin,
  type PluginContext,
  type PluginKind,
  type PluginProvides,
  type PluginRng,
} from "./define.ts";
import type { CoreHooks, Hooks } from "./hooks.ts";

export interface PluginHostOptions {
  hooks: Hooks<CoreHooks>;
  bus: EventBus;
  /** Makes the seeded random stream called `stream` (the host passes `plugin:<name>:<stream>`). */
  rng: (stream: string) => PluginRng;
  /** Where `ctx.log` goes; by default messages are kept in `host.messages`. */
  log?: (plugin: string, message: string) => void;
  /** Guard policies with the checked wrappers (default true). */
  checkPolicies?: boolean;
  /** Receives policy violations instead of them being thrown (see checked-policy.ts). */
  onPolicyError?: (error: PluginError) => void;
}

export interface RegisteredPlugin<K extends PluginKind = PluginKind> {
  readonly name: string;
  readonly kind: K;
  readonly version: string;
  readonly description: string;
  /** The options after defaults and validation. */
  readonly options: unknown;
  /** What `setup` returned (policy factories wrapped in checks). */
  readonly provides: PluginProvides[K];
  readonly plugin: AnyPlugin;
}

const POLICY_METHODS = {
  "policy.global": ["grant", "revoke", "reclaim", "restore"],
  "policy.local": ["addRange", "removeRange", "alloc", "free"],
} as const;

const MAX_MESSAGES = 1000;

export class PluginHost {
  private readonly registered = new Map<string, RegisteredPlugin>();
  private readonly streams = new Map<string, PluginRng>();
  /** `ctx.log` messages, when no `log` function was given (the first 1000). */
  readonly messages: { plugin: string; message: string }[] = [];

  /** The run plugins registered from now on are set up in (`ctx.run`); see enterRun. */
  private run: RunContext | undefined;

  constructor(private readonly options: PluginHostOptions) {}

  /**
   * Plugins registered from now on are set up in `run` (`ctx.run`). A run identifies itself
   * once its path has planned the machine, so policies and the path are registered before.
   */
  enterRun(run: RunContext): void {
    this.run = run;
  }

  /**
   * Registers `plugin` with `rawOptions` (validated against its schema, defaults applied),
   * runs its `setup` and returns what it provides.
   * @throws InputError (not a plugin, duplicate name, missing dependency, bad options)
   * @throws PluginError (setup threw or returned the wrong thing)
   */
  use<K extends PluginKind, O extends TSchema>(
    plugin: Plugin<K, O>,
    rawOptions?: unknown,
    /** Registers a second instance of the same plugin (other options) under this name. */
    instance?: string,
    /** What the plugin's `service` started (an observer's server), handed to setup as `ctx.service`. */
    service?: unknown,
  ): PluginProvides[K] {
    if (!isPlugin(plugin)) {
      throw new InputError(
        `not a plugin: ${describe(plugin)} (plugins are made with definePlugin)`,
      );
    }
    const { kind } = plugin;
    const name = instance ?? plugin.name;
    if (this.registered.has(name)) {
      throw new InputError(`plugin "${name}" is already registered`);
    }
    for (const dep of plugin.requires ?? []) {
      if (!this.registered.has(dep)) {
        throw new InputError(
          `plugin "${name}" requires "${dep}", which is not registered; register it first`,
        );
      }
    }
    let options: unknown = {};
    if (plugin.options !== undefined) {
      options = parseWithSchema(plugin.options, rawOptions, `plugin "${name}" option `);
    } else if (!isEmptyOptions(rawOptions)) {
      throw new InputError(`plugin "${name}" takes no options (got ${formatValue(rawOptions)})`);
    }

    let provides: unknown;
    try {
      provides = plugin.setup(this.context(name, service) as never, options as never);
    } catch (e) {
      // Bad input found by the plugin (e.g. nested options it validates itself) stays bad input.
      if (e instanceof InputError) throw e;
      throw PluginError.wrap(name, "setup", e);
    }
    if (kind === "policy.global" || kind === "policy.local") {
      if (typeof provides !== "function") {
        throw new PluginError(
          name,
          "setup",
          `a ${kind} plugin must return a policy factory (ctx) => policy`,
          {
            value: provides,
          },
        );
      }
      provides = this.guardFactory(
        name,
        kind,
        provides as GlobalPolicyFactory | LocalPolicyFactory,
      );
    }
    this.registered.set(name, {
      name,
      kind,
      version: plugin.version,
      description: plugin.description ?? "",
      options,
      provides: provides as PluginProvides[K],
      plugin,
    });
    return provides as PluginProvides[K];
  }

  /** What the first registered plugin of `kind` provides, or undefined. */
  get<K extends PluginKind>(kind: K): PluginProvides[K] | undefined {
    for (const r of this.registered.values())
      if (r.kind === kind) return r.provides as PluginProvides[K];
    return undefined;
  }

  /** What every plugin of `kind` provides, in registration order. */
  all<K extends PluginKind>(kind: K): PluginProvides[K][] {
    const out: PluginProvides[K][] = [];
    for (const r of this.registered.values())
      if (r.kind === kind) out.push(r.provides as PluginProvides[K]);
    return out;
  }

  getByName(name: string): RegisteredPlugin | undefined {
    return this.registered.get(name);
  }

  has(name: string): boolean {
    return this.registered.has(name);
  }

  /** Every registered plugin, in registration order. */
  list(): RegisteredPlugin[] {
    return [...this.registered.values()];
  }

  private context(name: string, service: unknown): PluginContext {
    const { hooks, bus, rng, log } = this.options;
    const run = this.run;
    return Object.freeze({
      name,
      hooks: hooks.scoped(name),
      bus: bus.scoped(name),
      ...(run === undefined ? {} : { run }),
      ...(service === undefined ? {} : { service }),
      rng: (stream: string) => {
        const key = `plugin:${name}:${stream}`;
        let r = this.streams.get(key);
        if (r === undefined) {
          r = rng(key);
          this.streams.set(key, r);
        }
        return r;
      },
      log: (message: string) => {
        if (log !== undefined) log(name, message);
        else if (this.messages.length < MAX_MESSAGES) this.messages.push({ plugin: name, message });
      },
    });
  }

  private guardFactory(
    name: string,
    kind: "policy.global" | "policy.local",
    factory: GlobalPolicyFactory | LocalPolicyFactory,
  ): GlobalPolicyFactory | LocalPolicyFactory {
    const check = this.options.checkPolicies ?? true;
    const onError = this.options.onPolicyError;
    const create = (ctx: GlobalPolicyContext & LocalPolicyContext): GlobalPolicy | LocalPolicy => {
      let policy: unknown;
      try {
        policy = (factory as (c: typeof ctx) => unknown)(ctx);
      } catch (e) {
        throw PluginError.wrap(name, "create", e);
      }
      for (const m of POLICY_METHODS[kind]) {
        if (typeof (policy as Record<string, unknown> | null)?.[m] !== "function") {
          throw new PluginError(name, "create", `the policy has no ${m}() method`, {
            value: policy,
          });
        }
      }
      if (!check) return policy as GlobalPolicy | LocalPolicy;
      return kind === "policy.global"
        ? checkGlobalPolicy(name, policy as GlobalPolicy, ctx.windowPages, { onError })
        : checkLocalPolicy(name, policy as LocalPolicy, ctx.windowPages, { onError });
    };
    return create as GlobalPolicyFactory | LocalPolicyFactory;
  }
}

function isEmptyOptions(x: unknown): boolean {
  return (
    x === undefined ||
    (typeof x === "object" && x !== null && !Array.isArray(x) && Object.keys(x).length === 0)
  );
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (typeof x === "function") return `a function${x.name ? ` named ${x.name}` : ""}`;
  if (typeof x === "object") {
    const keys = Object.keys(x);
    return `an object with keys ${keys.slice(0, 6).join(", ")}${keys.length > 6 ? ", ..." : ""}`;
  }
  return `${typeof x} ${String(x)}`;
}
