import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { MeterLog } from "../../../../core/model/domains/policy-meter.ts";
import { IovaRcache, type RcacheOptions } from "../../../../plugins/policies/iova-rcache.ts";
import { applyOps, combPattern } from "../../../../plugins/workloads/patterns.ts";
import { CPUS, localCmd, runLocal } from "../policy-model.ts";

const opts = (o: Partial<RcacheOptions> = {}): RcacheOptions => ({
  tree: "iova-rbtree",
  magazineSize: 127,
  depot: "linux-6.7",
  dma32Pages: 0,
  sizeAligned: true,
  ...o,
});

function make(w = 1024, cpus = 2, o: Partial<RcacheOptions> = {}) {
  const meter = new MeterLog();
  const p = new IovaRcache(w, cpus, meter, opts(o));
  p.addRange(0, w);
  return { p, meter };
}

describe("iova-rcache", () => {
  test("a freed block comes back from the same CPU's loaded magazine, last in first out, without the tree", () => {
    const { p } = make();
    const a = p.alloc(1, 1, 0);
    const b = p.alloc(1, 1, 0);
    p.free(a, 1, 0);
    p.free(b, 1, 0);
    const treeBefore = p.stats().nodesTotal;
    expect(p.alloc(1, 1, 0)).toBe(b);
    expect(p.alloc(1, 1, 0)).toBe(a);
    expect(p.stats()).toMatchObject({ cacheHits: 2, nodesTotal: treeBefore });
    // Another CPU's magazines are its own: CPU 1 misses and goes to the tree.
    p.free(a, 1, 0);
    expect(p.alloc(1, 1, 1)).not.toBe(a);
  });

  test("sizes under 32 pages round up to a power of two (3 → 4, size-aligned); over 32 pages skip the caches", () => {
    const { p } = make();
    const x = p.alloc(3, 1, 0);
    expect(x % 4).toBe(0);
    p.free(x, 3, 0);
    expect(p.stats().cachedPages).toBe(4);
    expect(p.alloc(4, 1, 0)).toBe(x); // the same class (4 pages)
    const big = p.alloc(33, 1, 0);
    p.free(big, 33, 0);
    expect(p.stats().cachedPages).toBe(0);
  });

  test("magazines: a full loaded swaps with an empty prev; both full send loaded to the depot, where another CPU finds it", () => {
    const { p } = make(1024, 2, { magazineSize: 2 });
    const pages = [0, 1, 2, 3, 4].map(() => p.alloc(1, 1, 0));
    for (const pg of pages) p.free(pg, 1, 0);
    // 2 in loaded → swap with prev → 2 more → both full → loaded (the 3rd and 4th) to the depot,
    // the 5th in a new loaded.
    expect(p.stats()).toMatchObject({ depotMagazines: 1, cachedPages: 5 });
    // CPU 1 has empty magazines: it takes the depot's full magazine.
    const got = p.alloc(1, 1, 1);
    expect(pages.slice(2, 4)).toContain(got);
    expect(p.stats().depotMagazines).toBe(0);
  });

  test("max-32 depot: the 33rd full magazine of a class is emptied into the tree", () => {
    const { p } = make(4096, 1, { magazineSize: 1, depot: "max-32" });
    const pages = Array.from({ length: 40 }, () => p.alloc(1, 1, 0));
    for (const pg of pages) p.free(pg, 1, 0);
    expect(p.stats().depotMagazines).toBe(32);
    expect(p.stats().cachedPages).toBe(34); // 32 in the depot, loaded and prev
  });

  test("when the tree fails, every cache is flushed into it and the request retried", () => {
    const { p } = make(64, 2);
    const ones = Array.from({ length: 64 }, (_, i) => p.alloc(1, 1, i % 2));
    for (const pg of ones) p.free(pg, 1, 0);
    expect(p.stats().cachedPages).toBe(64);
    expect(p.alloc(64, 1, 1)).toBe(0);
    expect(p.stats()).toMatchObject({ flushes: 1, cachedPages: 0 });
  });

  test("a limited request pops only a cached block below its limit", () => {
    const { p } = make(1024, 1);
    const high = p.alloc(1, 1, 0);
    const low = p.alloc(1, 1, 0, 100);
    p.free(low, 1, 0);
    p.free(high, 1, 0); // on top of the magazine
    expect(p.alloc(1, 1, 0, 100)).toBe(low);
  });

  test("meter: per-CPU and depot spin locks; a cache hit takes only its CPU's lock", () => {
    const { p, meter } = make(1024, 2);
    expect(meter.locks.map((l) => l.name)).toEqual([
      "iova_rbtree_lock",
      "cpu_rcache[0].lock",
      "cpu_rcache[1].lock",
      ...[0, 1, 2, 3, 4, 5].map((k) => `rcache[${k}].lock`),
    ]);
    const a = p.alloc(1, 1, 1);
    p.free(a, 1, 1);
    meter.clear();
    p.alloc(1, 1, 1);
    const ops = [...meter.ops.slice(0, meter.length)];
    expect(ops.filter((_, i) => i % 3 === 0 && ops[i] === 1).length).toBe(1);
    expect(ops.slice(0, 3)).toEqual([1, 2, 0]);
  });

  test("property: answers inside the held ranges, aligned, never overlapping; exact accounting (with removeRange)", () => {
    for (const tree of ["iova-rbtree", "iova-augmented", "iova-maple"] as const) {
      fc.assert(
        fc.property(fc.array(localCmd(256), { maxLength: 120, size: "max" }), (cmds) => {
          const p = new IovaRcache(256, CPUS, new MeterLog(), opts({ tree, magazineSize: 3 }));
          runLocal(p, 256, cmds);
        }),
        { seed: 44, numRuns: 50 },
      );
    }
  });

  test("on the comb of 1-page teeth the caches keep iova-rbtree's walk short; with 64-page teeth (never cached) it still walks the comb", () => {
    const worst = (toothPages: number, bigPages: number) => {
      const live = 2048;
      const w = (2 * toothPages + 1) * live + 4096;
      const p = new IovaRcache(w, 4, new MeterLog(), opts());
      applyOps(p, w, combPattern({ live, cycles: 256, toothPages, bigPages, cpus: 4 }));
      return p.stats().nodesMax;
    };
    expect(worst(1, 4)).toBeLessThan(64);
    expect(worst(64, 256)).toBeGreaterThan(1000);
  });
});
