/**
 * Allocation patterns as plain op lists: what a driver maps and unmaps, in order, with sizes,
 * CPUs and (optionally) a 32-bit limit. The alloc-pattern and replay workloads play them
 * through a guest's DMA API in simulated time; tests and the allocator bench apply them to a
 * policy directly (`applyOps`). Not a plugin.
 *
 * The comb (the pattern behind iova.c's linear search): 2n mappings of one size (the teeth)
 * fill the top of the space; every other one is short-lived and goes, leaving n long-lived
 * teeth with tooth-sized holes between them. Then, over and over: a long-lived page high in the comb expires — iova.c
 * moves `cached_node` to the node above it, since the freed range lay at or above the cached
 * one — and the next request is larger than any hole (a multi-page mapping): the top-down walk
 * from the cached node visits every long-lived node below it before it finds room, all under
 * the one tree lock. A replacement long-lived page and the large mapping's own short life
 * follow. The walk is as long as the comb below the expired page: linear in n.
 */

import type { LocalPolicy, PluginContext } from "../../core/index.ts";

type Rng = ReturnType<PluginContext["rng"]>;

export interface PatternOp {
  op: "map" | "unmap";
  /** Names the mapping: an unmap names the map it undoes. */
  id: number;
  npages: number;
  cpu: number;
  /** Exclusive page limit of the device (a 32-bit mask inside the window); absent: 64-bit. */
  limit?: number;
}

export interface CombOptions {
  /** Long-lived pages in the comb (n). */
  live: number;
  /** Expire-and-request cycles (at most n). */
  cycles: number;
  /** Pages of each long- and short-lived mapping of the comb (over 32: the rcache never holds them). */
  toothPages: number;
  /** Pages of the large request: more than three teeth, so no hole of the comb fits it. */
  bigPages: number;
  /** CPUs the ops rotate over. */
  cpus: number;
}

/** The comb pattern as an op list (deterministic: expiring pages by a fixed stride). */
export function combPattern(o: CombOptions): PatternOp[] {
  const ops: PatternOp[] = [];
  const n = o.live;
  let cpu = 0;
  const next = () => (cpu = (cpu + 1) % o.cpus);
  const t = o.toothPages;
  for (let i = 0; i < 2 * n; i++) ops.push({ op: "map", id: i, npages: t, cpu: next() });
  for (let i = 1; i < 2 * n; i += 2) ops.push({ op: "unmap", id: i, npages: t, cpu: next() });
  // A stride coprime with n visits every long-lived page once, in a scattered order.
  const stride = coprimeStride(n);
  let id = 2 * n;
  for (let k = 0; k < Math.min(o.cycles, n); k++) {
    const expiring = 2 * ((k * stride) % n);
    ops.push({ op: "unmap", id: expiring, npages: t, cpu: next() });
    const big = id++;
    ops.push({ op: "map", id: big, npages: o.bigPages, cpu: next() });
    ops.push({ op: "map", id: id++, npages: t, cpu: next() });
    ops.push({ op: "unmap", id: big, npages: o.bigPages, cpu: next() });
  }
  return ops;
}

export interface MixOptions {
  /** vCPUs issuing maps. */
  cpus: number;
  /** Time between a vCPU's maps. */
  gapNs: number;
  /** Generate maps until this time. */
  untilNs: number;
  /** Share of maps that live long. */
  longLivedShare: number;
  longLifeNs: number;
  shortLifeNs: number;
  /** Request sizes in pages and their weights. */
  sizes: readonly { pages: number; weight: number }[];
  /** Share of maps from a device limited below `limitPages` (a 32-bit mask). */
  dma32Share: number;
  limitPages: number;
  /** Every `burstEvery` maps a vCPU issues `burstSize` maps back to back (0: no bursts). */
  burstEvery: number;
  burstSize: number;
}

/**
 * A mix: each vCPU maps every `gapNs` (bursts back to back), sizes drawn by weight, each map
 * unmapped on the same vCPU after a short or a long life; some maps 32-bit-limited. Ops come
 * out in time order (ties by vCPU).
 */
export function mixPattern(o: MixOptions, rng: Rng): (PatternOp & { atNs: number })[] {
  const ops: (PatternOp & { atNs: number; seq: number })[] = [];
  const total = o.sizes.reduce((a, s) => a + s.weight, 0);
  let id = 0;
  let seq = 0;
  for (let cpu = 0; cpu < o.cpus; cpu++) {
    let t = rng.int(0, o.gapNs);
    for (let k = 0; t < o.untilNs; k++) {
      let r = rng.float() * total;
      let pages = o.sizes[o.sizes.length - 1]!.pages;
      for (const s of o.sizes) {
        if (r < s.weight) {
          pages = s.pages;
          break;
        }
        r -= s.weight;
      }
      const limit = rng.chance(o.dma32Share) ? o.limitPages : undefined;
      const life = rng.chance(o.longLivedShare) ? o.longLifeNs : o.shortLifeNs;
      const m = id++;
      ops.push({
        op: "map",
        id: m,
        npages: pages,
        cpu,
        atNs: t,
        seq: seq++,
        ...(limit ? { limit } : {}),
      });
      ops.push({ op: "unmap", id: m, npages: pages, cpu, atNs: t + life, seq: seq++ });
      const inBurst = o.burstEvery > 0 && k % o.burstEvery < o.burstSize - 1;
      t += inBurst ? 0 : o.gapNs;
    }
  }
  ops.sort((a, b) => a.atNs - b.atNs || a.seq - b.seq);
  return ops.map(({ seq: _, ...op }) => op);
}

function coprimeStride(n: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let s = Math.max(1, Math.floor(n * 0.618));
  while (gcd(s, n) !== 1) s++;
  return s;
}

/** Applies ops to a policy on the host (window fully held first); returns failed maps. */
export function applyOps(
  policy: LocalPolicy,
  windowPages: number,
  ops: readonly PatternOp[],
): number {
  policy.addRange(0, windowPages);
  const at = new Map<number, number>();
  let failed = 0;
  for (const o of ops) {
    if (o.op === "map") {
      const page = policy.alloc(o.npages, 1, o.cpu, o.limit);
      if (page < 0) failed++;
      else at.set(o.id, page);
    } else {
      const page = at.get(o.id);
      if (page === undefined) continue;
      at.delete(o.id);
      policy.free(page, o.npages, o.cpu);
    }
  }
  return failed;
}
