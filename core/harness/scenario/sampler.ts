import type { Platform } from "../../model/domains/platform.ts";
import type { EventBus } from "../../model/events/bus.ts";
import { definePlugin } from "../plugin/define.ts";

/** Samples per run (the interval is the run's duration divided by this). */
const SAMPLES = 200;

/**
 * Emits `metric` events at a fixed virtual-time interval, for traces and the live feed: each
 * domain's CPU utilisation over the interval, and per root complex the DVMA entries owned, the
 * valid TTEs and the IOTLB hit rate over the interval. Started only when someone listens; it
 * reads state and changes nothing, so results are the same with or without it.
 */
function startSampler(platform: Platform, bus: EventBus, untilNs: number): void {
  const { sim, hv, cpus } = platform;
  const interval = Math.max(1000, Math.floor(untilNs / SAMPLES));
  const busy = cpus.map((c) => c.busyNs);
  const iommus = [...hv.iommus.values()];
  const tlb = iommus.map((io) => [io.iotlb.hits, io.iotlb.misses]);
  const tick = (): void => {
    cpus.forEach((c, d) => {
      const value = (c.busyNs - busy[d]!) / (c.strands * interval);
      busy[d] = c.busyNs;
      bus.emit("metric", { domain: d, name: "cpu", value });
    });
    iommus.forEach((io, k) => {
      const [h, m] = tlb[k]!;
      const dh = io.iotlb.hits - h!;
      const dm = io.iotlb.misses - m!;
      tlb[k] = [io.iotlb.hits, io.iotlb.misses];
      const rc = `rc${io.devhandle.toString(16)}`;
      bus.emit("metric", { domain: -1, name: `${rc}.dvmaOwned`, value: io.ownedEntries });
      bus.emit("metric", { domain: -1, name: `${rc}.ttesValid`, value: io.iotsb.valid });
      bus.emit("metric", {
        domain: -1,
        name: `${rc}.iotlbHitRate`,
        value: dh + dm > 0 ? dh / (dh + dm) : 0,
      });
    });
    if (sim.now + interval <= untilNs) sim.schedule(interval, tick);
  };
  if (sim.now + interval <= untilNs) sim.schedule(interval, tick);
}

/**
 * The sampler as the observer every run registers first (so an observer that charts metrics
 * can declare `requires: ["sampler"]`): it starts with the clock when `metric` has listeners,
 * or later in the run when one begins listening (the `listen` hook).
 */
export const samplerPlugin = definePlugin({
  name: "sampler",
  kind: "observer",
  version: "1.0.0",
  description:
    "metric events at 200 points of each run (CPU per domain, DVMA owned, TTEs, IOTLB hit rate)",
  setup(ctx) {
    const run = ctx.run;
    if (run === undefined) return;
    let platform: Platform | undefined;
    let clock = false;
    let sampling = false;
    const begin = () => {
      if (sampling || !clock || platform === undefined || !ctx.bus.wants("metric")) return;
      sampling = true;
      startSampler(platform, ctx.bus, run.untilNs);
    };
    ctx.hooks.hook("boot", (p) => {
      platform = p;
    });
    ctx.hooks.hook("start", () => {
      clock = true;
      begin();
    });
    ctx.hooks.hook("listen", begin);
  },
});
