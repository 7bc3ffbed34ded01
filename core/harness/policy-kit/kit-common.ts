import { PluginError } from "../../input/errors.ts";
import { formatValue } from "../../input/validate.ts";
import type { PolicyStats } from "../../model/domains/policy.ts";
import type { Rng } from "../../model/sim/rng.ts";

/** What the policy kit's checks share: the domains and sizes they use, and how they draw requests. */

export const GUESTS = [1, 2, 3, 4] as const;
/** The control domain: asks for grants too, but is not in `guests`. */
export const CONTROL = 0;
export const CPUS = 4;
export const STEPS = 200;
export const BLOCK = 16;

export interface Span {
  base: number;
  npages: number;
}

export type Where = { at: string };
export type CheckBody = (rng: Rng, where: Where) => string;
export type Env = { name: string; windowPages: number; runs: number };

/** What the global and local drivers share: random calls against a model, and the policy's figures. */
export interface Driver {
  readonly policy: { stats(): PolicyStats };
  randomOps(steps: number, where: Where, label: string): void;
}

/** The "random operations" check of either kind: `runs` new policies, STEPS random calls each. */
export function randomOperations(
  runs: number,
  driver: (rng: Rng) => Driver,
  describe: (allocations: number) => string,
): [string, CheckBody] {
  const body: CheckBody = (rng, where) => {
    let allocations = 0;
    for (let run = 0; run < runs; run++) {
      const d = driver(rng);
      d.randomOps(STEPS, where, `run ${run}`);
      allocations += d.policy.stats().allocations;
    }
    return describe(allocations);
  };
  return ["random operations", body];
}

/** Stats must be finite numbers, allocatedPages must match the ledger. */
export function expectStats(name: string, stats: PolicyStats, allocated: number): void {
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
export function requestSize(rng: Rng, max: number): number {
  const r = rng.float();
  const n = r < 0.6 ? 1 : r < 0.85 ? rng.int(2, 9) : r < 0.95 ? rng.int(9, 41) : rng.int(41, 129);
  return Math.min(n, max);
}

export function requestAlign(rng: Rng): number {
  return rng.chance(0.6) ? 1 : 2 ** rng.int(1, 7);
}
