/**
 * Names the plugin behind an error thrown during a run (as Rollup and Vite tag a hook's error with
 * its plugin): a device, path or workload plugin's hook calls, the generators they return and
 * every process or callback made while one of them runs (and what those make) throw a PluginError
 * naming the plugin and the hook, so the run fails with one line instead of a stack trace. Core
 * code a plugin calls into is blamed on the plugin too (as in Rollup); the cause keeps the stack.
 */

import { InputError, PluginError } from "../../input/errors.ts";
import type {
  DeviceFactory,
  DeviceModel,
  GuestIo,
  IoPath,
  Workload,
} from "../../model/domains/io.ts";
import type { Proc, Simulator } from "../../model/sim/kernel.ts";

interface Who {
  plugin: string;
  hook: string;
}

export class PluginBlame {
  /** The plugin hook running now (null: core code). */
  private current: Who | null = null;

  constructor(sim: Simulator) {
    sim.wrap = <T>(made: T): T => {
      const who = this.current;
      if (who === null) return made;
      if (typeof made !== "function") return this.steps(made as Proc<unknown>, who) as T;
      return (() => this.call(who.plugin, who.hook, made as () => void)) as T;
    };
  }

  /** Calls a synchronous hook of `plugin`. */
  call<T>(plugin: string, hook: string, fn: () => T): T {
    const prev = this.current;
    this.current = { plugin, hook };
    try {
      return fn();
    } catch (e) {
      throw PluginError.wrap(plugin, hook, e);
    } finally {
      this.current = prev;
    }
  }

  /** Runs a plugin's generator step by step, each step blamed on `who`. */
  *steps<T>(gen: Proc<T>, who: Who): Proc<T> {
    let input: unknown;
    for (;;) {
      const prev = this.current;
      this.current = who;
      let r: IteratorResult<unknown, T>;
      try {
        r = gen.next(input);
      } catch (e) {
        throw PluginError.wrap(who.plugin, who.hook, e);
      } finally {
        this.current = prev;
      }
      if (r.done === true) return r.value;
      input = yield r.value as never;
    }
  }

  /** The models it makes have their hooks blamed in place (a model may be a class instance). */
  device(plugin: string, factory: DeviceFactory): DeviceFactory {
    return (env) => {
      const model: DeviceModel = this.call(plugin, "device", () => factory(env));
      const execute = model.execute.bind(model);
      const setRing = model.setRing.bind(model);
      model.execute = (req, dvma, tag, cpu, c) =>
        this.steps(
          this.call(plugin, "execute", () => execute(req, dvma, tag, cpu, c)),
          { plugin, hook: "execute" },
        );
      model.setRing = (dvma) => this.call(plugin, "setRing", () => setRing(dvma));
      return model;
    };
  }

  path(plugin: string, path: IoPath): IoPath {
    return {
      name: path.name,
      // A plan that refuses the machine (InputError) names the user's mistake before any work: exit 2.
      ...(path.plan && {
        plan: (p) => {
          try {
            return path.plan!(p);
          } catch (e) {
            if (e instanceof InputError) throw e;
            throw PluginError.wrap(plugin, "plan", e);
          }
        },
      }),
      connect: (env) => {
        const io = this.call(plugin, "connect", () => path.connect(env));
        return {
          guest: io.guest,
          device: io.device,
          setup: () =>
            this.steps(
              this.call(plugin, "setup", () => io.setup()),
              { plugin, hook: "setup" },
            ),
          submit: (req, cpu) =>
            this.steps(
              this.call(plugin, "submit", () => io.submit(req, cpu)),
              { plugin, hook: "submit" },
            ),
        } satisfies GuestIo;
      },
    };
  }

  workload(plugin: string, w: Workload): Workload {
    return { start: (env) => this.call(plugin, "start", () => w.start(env)) };
  }
}
