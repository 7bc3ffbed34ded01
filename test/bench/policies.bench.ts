/**
 * Allocation-policy throughput.
 *
 * Local policies: single-page alloc+free pairs per second at 10%, 50% and 90% occupancy of a
 * 262,144-page window held as one range. The window is filled page by page, then a random share
 * is freed so holes are everywhere (as after a long run); each pair frees a random live page
 * and allocates one on the same CPU (4 CPUs in turn). Global policies: grant+revoke pairs per
 * second at about half the window granted, 1-64 pages per grant, 4 guests.
 *
 * Policies are built through their plugin's setup by a PluginHost with `checkPolicies: false`:
 * the checked wrapper keeps a ledger of its own and would be measured instead of the policy.
 * Quick mode uses a 32,768-page window and shorter runs (numbers are indicative only).
 */

import type { AnyPlugin } from "../../core/harness/plugin/define.ts";
import { listBuiltinPlugins, loadPlugin } from "../../core/harness/plugin/loader.ts";
import { type GlobalPolicy, isRefusal, type LocalPolicy } from "../../core/index.ts";
import { MeterLog } from "../../core/model/domains/policy-meter.ts";
import { fnv1a32, Rng } from "../../core/model/sim/rng.ts";
import { header, measure, note, row } from "./harness.ts";
import { unchecked } from "./unchecked.ts";

const CPUS = 4;
const GUESTS = [1, 2, 3, 4];
const OCCUPANCY = [0.1, 0.5, 0.9];
/** Pairs per second each local policy should reach at 50% occupancy. */
const TARGETS: Record<string, number> = {
  "iova-rcache": 20e6,
  "iommu-common": 5e6,
  "iova-rbtree": 2e6,
};
/** Former names of policies benchmarked under their own. */
const ALIASES = new Set(["magazine", "next-fit-pools", "rbtree"]);

/** A meter that forgets each call's records (the model drains them the same way). */
class DrainedMeter extends MeterLog {
  override release(id: number): void {
    super.release(id);
    this.clear();
  }
}
/** Random slots are read from a ring this big. */
const RING = 1 << 16;

type Churn = (p: LocalPolicy, live: Int32Array, slots: Int32Array, pairs: number) => void;

/**
 * A fresh copy of the churn loop per policy: each copy's call sites see one policy class only
 * (as a guest kernel's would), instead of every policy benchmarked before it.
 */
function churnLoop(): Churn {
  return new Function(
    "p",
    "live",
    "slots",
    "pairs",
    `for (let i = 0; i < pairs; i++) {
       const s = slots[i & ${RING - 1}];
       const cpu = i & ${CPUS - 1};
       p.free(live[s], 1, cpu);
       const page = p.alloc(1, 1, cpu);
       if (page < 0) throw new Error("alloc failed at " + i);
       live[s] = page;
     }`,
  ) as Churn;
}

/** Pairs per timed run so one run takes about `seconds`. */
function calibrate(run: (pairs: number) => void, seconds: number): number {
  let pairs = 1000;
  for (;;) {
    const t0 = Bun.nanoseconds();
    run(pairs);
    const dt = (Bun.nanoseconds() - t0) / 1e9;
    if (dt > seconds / 4 || pairs > 5e7) return Math.max(1000, Math.round((pairs * seconds) / dt));
    pairs *= 4;
  }
}

function benchLocal(plugin: AnyPlugin, window: number, quick: boolean): void {
  const factory = unchecked(plugin) as (ctx: {
    windowPages: number;
    cpus: number;
    meter: MeterLog;
  }) => LocalPolicy;
  for (const occupancy of OCCUPANCY) {
    const rng = new Rng(42, fnv1a32(plugin.name));
    const policy = factory({ windowPages: window, cpus: CPUS, meter: new DrainedMeter() });
    policy.addRange(0, window);
    const all = new Int32Array(window);
    for (let i = 0; i < window; i++) all[i] = policy.alloc(1, 1, i % CPUS);
    for (let i = window - 1; i > 0; i--) {
      const j = rng.int(0, i + 1);
      const t = all[i];
      all[i] = all[j];
      all[j] = t;
    }
    const liveCount = Math.round(window * occupancy);
    for (let i = liveCount; i < window; i++) policy.free(all[i], 1, i % CPUS);
    const live = all.subarray(0, liveCount);
    const slots = Int32Array.from({ length: RING }, () => rng.int(0, liveCount));
    const churn = churnLoop();
    const pairs = calibrate((n) => churn(policy, live, slots, n), quick ? 0.02 : 0.25);
    const seconds = measure(
      `${plugin.name} ${occupancy}`,
      () => churn(policy, live, slots, pairs),
      { repeat: quick ? 3 : 5, warmup: 1 },
    );
    const target = occupancy === 0.5 ? TARGETS[plugin.name] : undefined;
    row(`${plugin.name} @ ${occupancy * 100}%`, pairs / seconds, "pairs/s", target);
    if (policy.stats!().allocatedPages !== liveCount)
      throw new Error(`${plugin.name}: accounting drifted`);
  }
}

function benchGlobal(plugin: AnyPlugin, window: number, quick: boolean): void {
  const factory = unchecked(plugin) as (ctx: {
    windowPages: number;
    guests: readonly number[];
    meter: MeterLog;
  }) => GlobalPolicy;
  const rng = new Rng(42, fnv1a32(plugin.name));
  const policy = factory({ windowPages: window, guests: GUESTS, meter: new DrainedMeter() });
  const sizes = Int32Array.from({ length: RING }, () => rng.int(1, 65));
  // About half the window in grants of 32.5 pages on average, spread over the guests.
  const slotCount = Math.round(window / 2 / 32.5);
  const base = new Int32Array(slotCount).fill(-1);
  const size = new Int32Array(slotCount);
  const slots = Int32Array.from({ length: RING }, () => rng.int(0, slotCount));
  let k = 0;
  const grant = (s: number) => {
    const n = sizes[k++ & (RING - 1)];
    const got = policy.grant(GUESTS[s % GUESTS.length], n, 1);
    base[s] = isRefusal(got) ? -1 : got;
    size[s] = n;
  };
  for (let s = 0; s < slotCount; s++) grant(s);
  const run = (pairs: number) => {
    for (let i = 0; i < pairs; i++) {
      const s = slots[i & (RING - 1)];
      if (base[s] >= 0) policy.revoke(GUESTS[s % GUESTS.length], base[s], size[s]);
      grant(s);
    }
  };
  const pairs = calibrate(run, quick ? 0.02 : 0.25);
  const seconds = measure(plugin.name, () => run(pairs), { repeat: quick ? 3 : 5, warmup: 1 });
  const s = policy.stats!();
  row(
    `${plugin.name} (${Math.round((100 * s.allocatedPages) / window)}% granted)`,
    pairs / seconds,
    "pairs/s",
  );
}

export default async function policiesBench(opts: { quick: boolean }): Promise<void> {
  const window = opts.quick ? 32_768 : 262_144;
  const plugins: AnyPlugin[] = [];
  for (const info of await listBuiltinPlugins()) {
    if ((info.kind === "policy.local" || info.kind === "policy.global") && !ALIASES.has(info.name))
      plugins.push(await loadPlugin(info.name, { cwd: "/" }));
  }
  header(`local policies: single-page alloc+free pairs, window ${window} pages, ${CPUS} CPUs`);
  for (const p of plugins) if (p.kind === "policy.local") benchLocal(p, window, opts.quick);
  header(
    `global policies: grant+revoke pairs (1-64 pages), window ${window} pages, ${GUESTS.length} guests`,
  );
  for (const p of plugins) if (p.kind === "policy.global") benchGlobal(p, window, opts.quick);
  note(
    "targets",
    "at 50% occupancy: iova-rcache >= 20M, iommu-common >= 5M, iova-rbtree >= 2M pairs/s",
  );
}
