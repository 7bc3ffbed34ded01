/**
 * The kernel workload on simjs (npm): each process is an Entity that re-arms a timer on a uniform
 * random integer delay in [1, 1000]. Returns { skipped } with the reason if simjs cannot be loaded.
 */
import { Rng } from "../../../core/model/sim/index.ts";

export interface SimjsWorkload {
  /** Runs the workload; returns the timeouts that completed (counted per finished entity). */
  run(processes: number, loops: number, seed: number): number;
}

// The few simjs 2.x members used here.
interface SimjsRequest {
  done(callback: () => void): SimjsRequest;
}
interface SimjsEntity {
  setTimer(duration: number): SimjsRequest;
}
interface SimjsLib {
  Sim: new () => {
    addEntity(klass: unknown, name: string, ...args: unknown[]): unknown;
    simulate(endTime: number): unknown;
  };
  Entity: new (...args: never[]) => SimjsEntity;
}

export async function loadSimjs(): Promise<SimjsWorkload | { skipped: string }> {
  // The npm bundle (browserify, no standalone wrapper) exports nothing to CommonJS; it only
  // assigns `window.Sim`, so give it a temporary `window` to attach to.
  const g = globalThis as { window?: { Sim?: unknown } };
  const hadWindow = "window" in g;
  const saved = g.window;
  let lib: Partial<SimjsLib> | undefined;
  try {
    g.window = {};
    const specifier = "simjs"; // a variable: simjs ships no type declarations
    const mod = (await import(specifier)) as { default?: unknown };
    lib = (g.window.Sim ?? mod.default ?? mod) as Partial<SimjsLib>;
  } catch (err) {
    return { skipped: `cannot load simjs (${(err as Error).message}); run \`bun install\`` };
  } finally {
    if (hadWindow) g.window = saved;
    else delete g.window;
  }
  const Sim = lib?.Sim;
  const Entity = lib?.Entity;
  if (typeof Sim !== "function" || typeof Entity !== "function") {
    return { skipped: "simjs has no Sim/Entity exports (unexpected version)" };
  }
  let finished = 0;
  class Looper extends Entity {
    loops = 0;
    left = 0;
    rng = new Rng(0);
    // simjs calls start(...args) from addEntity, and done() callbacks with the entity as `this`.
    start(loops: number, rng: Rng): void {
      this.loops = loops;
      this.left = loops;
      this.rng = rng;
      this.tick();
    }
    tick(): void {
      if (this.left-- > 0) this.setTimer(this.rng.int(1, 1001)).done(this.tick);
      else finished += this.loops;
    }
  }
  return {
    run(processes, loops, seed) {
      finished = 0;
      const sim = new Sim();
      const rng = new Rng(seed);
      for (let i = 0; i < processes; i++) sim.addEntity(Looper, `p${i}`, loops, rng);
      sim.simulate(Number.POSITIVE_INFINITY);
      return finished;
    },
  };
}
