/**
 * A small typed hook map in the manner of unjs/hookable, kept synchronous for the simulation
 * loop: `callSync` walks the hooks in registration order, allocates no Promise, and wraps
 * whatever a hook throws in a `PluginError` naming the plugin and the hook (then rethrows,
 * which stops the remaining hooks of that call).
 *
 *   const hooks = new Hooks<CoreHooks>();
 *   const off = hooks.hook("death", (d, reason) => ..., { plugin: "my-observer" });
 *   hooks.callSync("death", 3, "scenario fault");
 */

import { PluginError } from "../../input/errors.ts";
import type { Platform } from "../../model/domains/platform.ts";
import type { PathMetrics } from "../report/report.ts";

// biome-ignore lint/suspicious/noExplicitAny: hook maps are arbitrary function signatures.
export type HookFn = (...args: any[]) => any;

/** A map from hook name to its function type; interfaces qualify (no index signature needed). */
export type HookMap<M> = { [K in keyof M]: HookFn };

export interface HookOptions {
  /** The plugin registering the hook; named in errors. */
  plugin?: string;
}

/**
 * The run's hooks: one map for everything a plugin may watch in a run, in the order they fire.
 * Plugins tap them through `ctx.hooks` in `setup` (observers are plugins on this map). Extend
 * with declaration merging:
 * `declare module ".../core/harness/plugin/hooks.ts" { interface CoreHooks { "x:y": (...) => void } }`.
 */
export interface CoreHooks {
  /** The machine booted (the clock has not moved). */
  boot: (platform: Platform) => void;
  /** Every plugin is set up and every process scheduled: the clock starts. */
  start: () => void;
  /** The control domain granted `npages` DVMA pages at address `dvma` of `devhandle`'s window to `domain`. */
  grant: (domain: number, devhandle: number, dvma: number, npages: number) => void;
  /** Granted pages came back from `domain` (released by the guest or revoked). */
  release: (domain: number, devhandle: number, dvma: number, npages: number) => void;
  /** A guest domain died; `reason` says why. */
  death: (domain: number, reason: string) => void;
  /**
   * An observer began listening to more of the bus while the run goes on (a live client
   * connected): work that starts only when listened to (the sampler) looks again.
   */
  listen: () => void;
  /** The clock reached the run's end: last chance to emit events. */
  end: () => void;
  /** The run's figures, as the report will show them. */
  result: (metrics: PathMetrics) => void;
}

interface Registered {
  fn: HookFn;
  plugin: string;
}

const ANONYMOUS = "anonymous";

export class Hooks<M extends HookMap<M>> {
  /** Copy-on-write lists: a hook (un)registered during a call does not disturb that call. */
  private table: Map<string, readonly Registered[]>;
  private owner: string | undefined;

  constructor() {
    this.table = new Map();
    this.owner = undefined;
  }

  /** A view of the same hooks that tags every registration with `plugin` (the host gives one to each plugin). */
  scoped(plugin: string): Hooks<M> {
    const view = Object.create(Hooks.prototype) as Hooks<M>;
    view.table = this.table;
    view.owner = plugin;
    return view;
  }

  /** Registers `fn` on `name`, after those already there. Returns the unregister function. */
  hook<K extends keyof M & string>(name: K, fn: M[K], options?: HookOptions): () => void {
    const plugin = options?.plugin ?? this.owner ?? ANONYMOUS;
    if (typeof fn !== "function") {
      throw new PluginError(plugin, name, "hook must be a function", { value: fn });
    }
    const entry: Registered = { fn, plugin };
    this.table.set(name, [...(this.table.get(name) ?? []), entry]);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      const rest = (this.table.get(name) ?? []).filter((x) => x !== entry);
      if (rest.length === 0) this.table.delete(name);
      else this.table.set(name, rest);
    };
  }

  /**
   * Calls every hook on `name` in registration order with `args`, synchronously.
   * @throws PluginError (plugin, hook = name) if a hook throws or returns a Promise.
   */
  callSync<K extends keyof M & string>(name: K, ...args: Parameters<M[K]>): void {
    const list = this.table.get(name);
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) {
      const h = list[i];
      let result: unknown;
      try {
        result = h.fn(...args);
      } catch (e) {
        throw PluginError.wrap(h.plugin, name, e);
      }
      if (result !== undefined && typeof (result as { then?: unknown }).then === "function") {
        (result as Promise<unknown>).then(undefined, () => {});
        throw new PluginError(h.plugin, name, "returned a Promise; hooks run synchronously", {
          value: result,
        });
      }
    }
  }

  /** True if at least one hook is registered on `name`. */
  has(name: keyof M & string): boolean {
    return this.table.has(name);
  }

  /** Hooks registered on `name`. */
  count(name: keyof M & string): number {
    return this.table.get(name)?.length ?? 0;
  }

  /** Which plugins tapped which hooks (for `plugins` listings and debugging). */
  registered(): { hook: string; plugin: string }[] {
    const out: { hook: string; plugin: string }[] = [];
    for (const [hook, list] of this.table)
      for (const h of list) out.push({ hook, plugin: h.plugin });
    return out;
  }
}
