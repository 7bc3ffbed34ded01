/**
 * Plays a timed op list (patterns.ts, or a replayed trace) through a guest's DMA API: one
 * process per vCPU takes that CPU's ops in time order, waits for each op's time, and maps or
 * unmaps. An unmap whose map is still under way on another vCPU waits for it. Each map's
 * latency (DMA API, allocator, hypercalls) is observed as "map", and one over the stall
 * threshold counts as a stall; at run end the allocator's
 * per-call work (policy stats nodes* or words*, as alloc.work*), its map at the worst
 * moment (worst*) and its locks' hold and wait distributions are recorded as figures
 * "alloc.*", and the window as it was just after the slowest map is kept for the report
 * ("alloc.slowestMap"). Not a plugin.
 */

import {
  type GuestDmaApi,
  Histogram,
  isDmaFailure,
  type PolicyStats,
  type WorkloadEnv,
} from "../../core/index.ts";
import type { PatternOp } from "./patterns.ts";

export interface TimedOp extends PatternOp {
  atNs: number;
}

/** 8 KiB IO pages. */
const PAGE = 8192;
/** How often an unmap looks again for a map still under way. */
const WAIT_NS = 1000;

type Mapping = Exclude<
  ReturnType<GuestDmaApi["mapSingle"]> extends Generator<unknown, infer R> ? R : never,
  { error: string }
>;

/** Policy figures reported as alloc.*: per-call work (tree nodes or bitmap words) as work*. */
const REPORTED = /^(nodes|words)(P50|P99|Max)$|^worst|^cacheHits$|^flushes$/;
const rename = (k: string) => k.replace(/^(nodes|words)/, "work");

/** Starts the vCPU processes; returns what to record when the run ends. */
export function playOps(
  env: WorkloadEnv,
  ops: readonly TimedOp[],
  label: string,
  /** A map that takes longer than this counts as a stall. */
  stallNs: number,
): () => void {
  const dma = env.guest.dma.get(env.io.device.port.devhandle)!;
  const strands = env.guest.cpu.strands;
  let maxPages = 1;
  for (const o of ops) maxPages = Math.max(maxPages, o.npages);
  const ra = env.guest.memory.alloc(maxPages);
  const live = new Map<number, Mapping | "pending">();
  let failures = 0;
  let maps = 0;
  let worstMapNs = 0;
  let stalls = 0;
  /** The mappings live just after the slowest map: [index, npages] pairs, and when it was. */
  let worstLive: number[] = [];
  let worstNote = "";
  const byCpu: TimedOp[][] = Array.from({ length: strands }, () => []);
  for (const o of ops) byCpu[o.cpu % strands]!.push(o);

  function* lane(cpu: number) {
    for (const o of byCpu[cpu]!) {
      if (o.atNs >= env.untilNs) return;
      if (o.atNs > env.sim.now) yield o.atNs - env.sim.now;
      if (o.op === "map") {
        live.set(o.id, "pending");
        const t0 = env.sim.now;
        const m = yield* dma.mapSingle(ra, o.npages * PAGE, "bidirectional", cpu, o.limit);
        if (isDmaFailure(m)) {
          failures++;
          live.delete(o.id);
          continue;
        }
        maps++;
        const took = env.sim.now - t0;
        env.observe("map", took);
        if (took > stallNs) stalls++;
        live.set(o.id, m);
        if (took > worstMapNs) {
          worstMapNs = took;
          worstLive = liveRanges(live);
          worstNote = `slowest map (${Math.round(took) / 1e3} µs, ${o.npages} page${o.npages === 1 ? "" : "s"}, vCPU ${cpu}, ending at ${env.sim.now / 1e6} ms)`;
        }
      } else {
        let m = live.get(o.id);
        while (m === "pending" && env.sim.now < env.untilNs) {
          yield WAIT_NS;
          m = live.get(o.id);
        }
        if (m === undefined || m === "pending") continue;
        live.delete(o.id);
        yield* dma.unmapSingle(m, cpu);
      }
    }
  }
  if (ra >= 0) {
    for (let c = 0; c < strands; c++)
      if (byCpu[c]!.length > 0) env.sim.spawn(lane(c), `${label}:${env.guest.name}:${c}`);
  } else failures = ops.filter((o) => o.op === "map").length;

  return () => {
    const s: Partial<PolicyStats> = dma.policyStats();
    for (const [k, v] of Object.entries(s))
      if (REPORTED.test(k) && v !== undefined) env.figure(`alloc.${rename(k)}`, v);
    env.figure("alloc.maps", maps);
    env.figure("alloc.failures", failures);
    env.figure("alloc.liveMappings", live.size);
    env.figure("alloc.maxMapUs", Math.round(worstMapNs) / 1e3);
    env.figure("alloc.stalls", stalls);
    for (const [k, v] of Object.entries(lockDistributions(dma))) env.figure(`alloc.${k}`, v);
    const windowPages = env.platform.hv.iommus.get(dma.accounting.devhandle)?.windowPages;
    if (worstNote !== "" && windowPages !== undefined)
      env.moment("alloc.slowestMap", { note: worstNote, windowPages, ranges: worstLive });
  };
}

/** Live mappings as [index, npages] pairs (a map still under way is not one yet). */
function liveRanges(live: ReadonlyMap<number, Mapping | "pending">): number[] {
  const out: number[] = [];
  for (const m of live.values()) if (m !== "pending") out.push(m.index, m.npages);
  return out;
}

/**
 * The allocator's locks (the policy's, merged): hold and wait p50, p99 and max, µs; and the
 * longest a vCPU spun on any of the guest's DMA locks (the flush lock too), µs.
 */
function lockDistributions(dma: GuestDmaApi): Record<string, number> {
  const hold = new Histogram();
  const wait = new Histogram();
  let spin = 0;
  for (const l of dma.accounting.locks) {
    spin = Math.max(spin, l.stats.maxSpinNs);
    if (l === dma.flushLock) continue;
    hold.merge(l.holds);
    wait.merge(l.waits);
  }
  const us = (ns: number) => Math.round(ns) / 1e3;
  return {
    lockHoldP50Us: us(hold.percentile(50)),
    lockHoldP99Us: us(hold.percentile(99)),
    lockHoldMaxUs: us(hold.max),
    lockWaitP50Us: us(wait.percentile(50)),
    lockWaitP99Us: us(wait.percentile(99)),
    lockWaitMaxUs: us(wait.max),
    lockWaits: wait.count,
    longestSpinUs: us(spin),
  };
}
