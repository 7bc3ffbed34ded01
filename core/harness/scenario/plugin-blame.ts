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
  readonly plugin: string;
  readonly hook: string;
}

/**
 * A plugin's generator, each step blamed on `who` (an iterator `yield*` drives directly: no
 * generator of its own, so a frame of it costs one call rather than one more generator resume).
 */
class Blamed<T> {
  constructor(
    private readonly blame: PluginBlame,
    private readonly gen: Proc<T>,
    private readonly who: Who,
  ) {}

  next(input?: unknown): IteratorResult<unknown, T> {
    return this.step(false, input);
  }

  throw(thrown: unknown): IteratorResult<unknown, T> {
    return this.step(true, thrown);
  }

  /** One step of the plugin's generator (resumed with `v`, or thrown into), blamed on `who`. */
  private step(thrown: boolean, v: unknown): IteratorResult<unknown, T> {
    const b = this.blame;
    const prev = b.current;
    b.current = this.who;
    try {
      return thrown ? this.gen.throw(v) : this.gen.next(v);
    } catch (e) {
      throw PluginError.wrap(this.who.plugin, this.who.hook, e);
    } finally {
      b.current = prev;
    }
  }

  return(value: T): IteratorResult<unknown, T> {
    return this.gen.return(value);
  }

  [Symbol.iterator](): this {
    return this;
  }
}

export class PluginBlame {
  /** @internal The plugin hook running now (null: core code). */
  current: Who | null = null;

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
    return this.run({ plugin, hook }, fn);
  }

  /** Calls `fn` blamed on `who`. */
  private run<T>(who: Who, fn: () => T): T {
    const prev = this.current;
    this.current = who;
    try {
      return fn();
    } catch (e) {
      throw PluginError.wrap(who.plugin, who.hook, e);
    } finally {
      this.current = prev;
    }
  }

  /** Runs a plugin's generator step by step, each step blamed on `who`. */
  steps<T>(gen: Proc<T>, who: Who): Proc<T> {
    return new Blamed(this, gen, who) as unknown as Proc<T>;
  }

  /** The models it makes have their hooks blamed in place (a model may be a class instance). */
  device(plugin: string, factory: DeviceFactory): DeviceFactory {
    const onExecute: Who = { plugin, hook: "execute" };
    return (env) => {
      const model: DeviceModel = this.call(plugin, "device", () => factory(env));
      const execute = model.execute.bind(model);
      const setRing = model.setRing.bind(model);
      // Per request: no closure, only the Blamed that carries the generator.
      model.execute = (req, dvma, tag, cpu, c) => {
        const prev = this.current;
        this.current = onExecute;
        try {
          return this.steps(execute(req, dvma, tag, cpu, c), onExecute);
        } catch (e) {
          throw PluginError.wrap(plugin, "execute", e);
        } finally {
          this.current = prev;
        }
      };
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
        const onSetup: Who = { plugin, hook: "setup" };
        const onSubmit: Who = { plugin, hook: "submit" };
        return {
          guest: io.guest,
          device: io.device,
          setup: () =>
            this.steps(
              this.run(onSetup, () => io.setup()),
              onSetup,
            ),
          // Per request: no closure, only the Blamed that carries the generator.
          submit: (req, cpu) => {
            const prev = this.current;
            this.current = onSubmit;
            try {
              return this.steps(io.submit(req, cpu), onSubmit);
            } catch (e) {
              throw PluginError.wrap(plugin, "submit", e);
            } finally {
              this.current = prev;
            }
          },
        } satisfies GuestIo;
      },
    };
  }

  workload(plugin: string, w: Workload): Workload {
    return { start: (env) => this.call(plugin, "start", () => w.start(env)) };
  }
}
