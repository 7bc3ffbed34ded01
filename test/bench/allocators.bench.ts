/**
 * The Linux allocators (iova-rbtree, iova-augmented, iova-maple, iova-rcache, iommu-common) at
 * 10^3 … 10^6 live ranges: host-side operations per second beside the simulated work per call
 * (tree nodes, or bitmap words for iommu-common) that the policy meter charges.
 *
 * For each size n, every policy in turn (interleaved, default options) gets a window of
 * 4n + 4096 pages held as one range and the comb (plugins/workloads/patterns.ts): 2n single
 * pages, every other one freed. Then two timed phases: `churn` frees a random long-lived page
 * and maps one page on the same CPU (4 CPUs in turn); `stall` runs comb cycles (a long-lived
 * page expires, a 4-page request, a replacement page, the request unmapped). Each row gives
 * ops/s and the mean and worst work per alloc of that phase. The live count is checked after
 * each phase. Quick mode stops at 10^4.
 */

import type { LocalPolicy, PolicyMeter } from "../../core/index.ts";
import { fnv1a32, Rng } from "../../core/model/sim/rng.ts";
import iommuCommon from "../../plugins/policies/iommu-common.ts";
import iovaAugmented from "../../plugins/policies/iova-augmented.ts";
import iovaMaple from "../../plugins/policies/iova-maple.ts";
import iovaRbtree from "../../plugins/policies/iova-rbtree.ts";
import iovaRcache from "../../plugins/policies/iova-rcache.ts";
import { header, row } from "./harness.ts";
import { unchecked } from "./unchecked.ts";

const CPUS = 4;
const BIG = 4;
const PLUGINS = [iovaRbtree, iovaAugmented, iovaMaple, iovaRcache, iommuCommon];

/** A meter that keeps nothing: the policies' own stats carry the work figures. */
function discardingMeter(): PolicyMeter {
  let locks = 0;
  let units = 0;
  return {
    lock: () => locks++,
    unit: () => units++,
    acquire() {},
    release() {},
    work() {},
  };
}

type Stats = Record<string, number>;
const totalWork = (s: Stats) => s.nodesTotal ?? s.wordsTotal ?? 0;

/** Runs `step` until about `seconds` of host time passed (at least `min` steps); returns steps/s and steps. */
function timed(step: () => void, seconds: number, min: number): { rate: number; steps: number } {
  let steps = 0;
  const t0 = Bun.nanoseconds(); // host clock: a benchmark
  let dt = 0;
  while (steps < min || dt < seconds * 1e9) {
    for (let i = 0; i < 64; i++) step();
    steps += 64;
    dt = Bun.nanoseconds() - t0; // host clock
  }
  return { rate: (steps * 1e9) / dt, steps };
}

function benchOne(plugin: (typeof PLUGINS)[number], n: number, quick: boolean): void {
  const window = 4 * n + 4096;
  const factory = unchecked(plugin) as (ctx: {
    windowPages: number;
    cpus: number;
    meter: PolicyMeter;
  }) => LocalPolicy;
  const p = factory({ windowPages: window, cpus: CPUS, meter: discardingMeter() });
  p.addRange(0, window);
  const teeth = new Int32Array(2 * n);
  for (let i = 0; i < 2 * n; i++) teeth[i] = p.alloc(1, 1, i % CPUS);
  const live = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    live[i] = teeth[2 * i];
    p.free(teeth[2 * i + 1], 1, i % CPUS);
  }
  const rng = new Rng(42, fnv1a32(`${plugin.name}:${n}`));
  const seconds = quick ? 0.05 : 0.3;
  const stats = () => p.stats!() as Stats;

  let k = 0;
  let w0 = totalWork(stats());
  const churn = timed(
    () => {
      const s = rng.int(0, n);
      const cpu = k++ & (CPUS - 1);
      p.free(live[s], 1, cpu);
      const page = p.alloc(1, 1, cpu);
      if (page < 0) throw new Error(`${plugin.name}: churn alloc failed`);
      live[s] = page;
    },
    seconds,
    64,
  );
  let s1 = stats();
  if (s1.allocatedPages !== n)
    throw new Error(`${plugin.name}: ${s1.allocatedPages} live, not ${n}`);
  const churnWork = (totalWork(s1) - w0) / churn.steps;

  w0 = totalWork(s1);
  const before = s1.nodesMax ?? s1.wordsMax ?? 0;
  const stall = timed(
    () => {
      const s = rng.int(0, n);
      const cpu = k++ & (CPUS - 1);
      p.free(live[s], 1, cpu);
      const big = p.alloc(BIG, 1, cpu);
      const page = p.alloc(1, 1, cpu);
      if (big < 0 || page < 0) throw new Error(`${plugin.name}: stall alloc failed`);
      live[s] = page;
      p.free(big, BIG, cpu);
    },
    seconds,
    64,
  );
  s1 = stats();
  if (s1.allocatedPages !== n)
    throw new Error(`${plugin.name}: ${s1.allocatedPages} live, not ${n}`);
  const stallWork = (totalWork(s1) - w0) / (2 * stall.steps);
  const worst = s1.nodesMax ?? s1.wordsMax ?? 0;
  const unit = s1.nodesMax !== undefined ? "nodes" : "words";
  const label = `${plugin.name} n=${n}`;
  row(`${label} churn`, churn.rate, `pairs/s   ${churnWork.toFixed(1)} ${unit}/call mean`);
  row(
    `${label} stall`,
    stall.rate,
    `cycles/s  ${stallWork.toFixed(1)} ${unit}/alloc mean, ${Math.max(worst, before)} max`,
  );
}

export default async function allocatorsBench(opts: { quick: boolean }): Promise<void> {
  const sizes = opts.quick ? [1_000, 10_000] : [1_000, 10_000, 100_000, 1_000_000];
  for (const n of sizes) {
    header(`Linux allocators at ${n} live ranges (window ${4 * n + 4096} pages, ${CPUS} CPUs)`);
    for (const plugin of PLUGINS) benchOne(plugin, n, opts.quick);
  }
}
