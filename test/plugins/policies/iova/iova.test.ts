import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { MeterLog } from "../../../../core/model/domains/policy-meter.ts";
import { GapSearch, IovaRbTree } from "../../../../plugins/policies/iova/iova-tree.ts";
import { alignMask } from "../../../../plugins/policies/iova/range-policy.ts";
import { applyOps, combPattern } from "../../../../plugins/workloads/patterns.ts";

const W = 64;
const rb = (w = W, sizeAligned = false) => {
  const p = new IovaRbTree(w, new MeterLog(), { dma32Pages: 0, sizeAligned });
  p.addRange(0, w);
  return p;
};
/** First page of the node `cached_node` / `cached32_node` point at. */
const cachedLo = (p: IovaRbTree) => (p as unknown as { t: { lo: Int32Array } }).t.lo[p.cached];
const cached32Lo = (p: IovaRbTree) => (p as unknown as { t: { lo: Int32Array } }).t.lo[p.cached32];

describe("iova-rbtree: the behaviours of iova.c, each as a sequence", () => {
  test("size alignment: alloc(3) from the top of 64 pages lands at 60 (aligned to 4), then alloc(5) at 48 (aligned to 8); unaligned, alloc(5) lands at 55", () => {
    const p = rb(W, true);
    expect(p.alloc(3, 1, 0)).toBe(60);
    expect(p.alloc(5, 1, 0)).toBe(48);
    const q = rb(W, false);
    expect(q.alloc(3, 1, 0)).toBe(61);
    expect(q.alloc(5, 1, 0)).toBe(56);
  });

  test("the cached node after a free: alloc 63, 62, 61 (cached at 61); free 62 (≥ cached) moves it to the node above (63); alloc refills 62; free 61 (below cached 62) leaves it", () => {
    const p = rb();
    expect([p.alloc(1, 1, 0), p.alloc(1, 1, 0), p.alloc(1, 1, 0)]).toEqual([63, 62, 61]);
    expect(cachedLo(p)).toBe(61);
    p.free(62, 1, 0);
    expect(cachedLo(p)).toBe(63);
    expect(p.alloc(1, 1, 0)).toBe(62);
    expect(cachedLo(p)).toBe(62);
    p.free(61, 1, 0);
    expect(cachedLo(p)).toBe(62);
    // The anchor is never freed: freeing the top allocation moves the cache to the anchor (64).
    p.free(63, 1, 0);
    expect(cachedLo(p)).toBe(64);
  });

  test("32-bit requests use cached32_node: a request limited to 32 pages allocates at 31 and moves only cached32_node", () => {
    const p = rb();
    expect(p.alloc(1, 1, 0)).toBe(63);
    expect(p.alloc(1, 1, 0, 32)).toBe(31);
    expect([cachedLo(p), cached32Lo(p)]).toEqual([63, 31]);
    expect(p.alloc(2, 1, 0, 32)).toBe(29);
    expect(cached32Lo(p)).toBe(29);
  });

  test("the failed-size memory: with pages 0..31 full (two alloc(16) below 32), a 32-bit alloc(4) fails and max32_alloc_size = 4; alloc(8) then fails at once (1 unit of work), alloc(2) still searches; a free below the boundary forgets the size; a 32-page request never fits (size ≥ dma_32bit_pfn)", () => {
    const p = rb();
    expect(p.alloc(16, 1, 0, 32)).toBe(16);
    expect(p.alloc(16, 1, 0, 32)).toBe(0);
    expect(p.alloc(4, 1, 0, 32)).toBe(-1);
    expect(p.max32).toBe(4);
    const before = p.nodeWork();
    expect(p.alloc(8, 1, 0, 32)).toBe(-1);
    expect(p.nodeWork() - before).toBe(1);
    expect(p.stats().fastFails).toBe(1);
    expect(p.alloc(2, 1, 0, 32)).toBe(-1); // 2 < 4: searched, failed, remembered
    expect(p.max32).toBe(2);
    p.free(16, 16, 0);
    expect(p.max32).toBe(32);
    expect(p.alloc(8, 1, 0, 32)).toBe(24);
    p.free(0, 16, 0);
    p.free(24, 8, 0);
    expect(p.alloc(32, 1, 0, 32)).toBe(-1);
  });

  test("the retry: on 16 pages alloc 15, 14, 13; free 14 (cached_node moves to 15); alloc(2) walks past the 1-page hole to 11; alloc(11) takes 0..10; alloc(1) finds nothing below the cached node and retries from iova_find_limit, landing on 14", () => {
    const p = new IovaRbTree(16, new MeterLog(), { dma32Pages: 8, sizeAligned: false });
    p.addRange(0, 16);
    expect([p.alloc(1, 1, 0), p.alloc(1, 1, 0), p.alloc(1, 1, 0)]).toEqual([15, 14, 13]);
    p.free(14, 1, 0); // at or above the cached node (13): cached_node moves to 15
    expect(p.alloc(2, 1, 0)).toBe(11); // the hole at 14 is too small: walks past it
    expect(p.alloc(11, 1, 0)).toBe(0); // cached_node is now at 0, the hole at 14 above it
    expect(p.stats().retries).toBe(0);
    expect(p.alloc(1, 1, 0)).toBe(14); // nothing below 0: retry between the cached node and the limit
    expect(p.stats().retries).toBe(1);
  });
});

/** iova.c's walk written plainly over a sorted array of nodes (the window fully held). */
class ReferenceIova {
  /** Sorted by lo; the last is the anchor. */
  nodes: { lo: number; hi: number }[];
  cached: { lo: number; hi: number };
  cached32: { lo: number; hi: number };
  max32: number;

  constructor(
    readonly w: number,
    readonly dma32: number,
  ) {
    const anchor = { lo: w, hi: w };
    this.nodes = [anchor];
    this.cached = this.cached32 = anchor;
    this.max32 = dma32;
  }

  alloc(size: number, mask: number, limit: number): number {
    if (limit <= this.dma32 && size >= this.max32) return -1;
    const start = limit <= this.dma32 ? this.cached32 : this.cached;
    let i = this.nodes.indexOf(start);
    const retryPfn = start.hi;
    let high = limit;
    let low = 0;
    let s = -1;
    for (;;) {
      do {
        high = Math.min(high, this.nodes[i].lo);
        s = high >= size ? (high - size) & mask : -1;
        i--;
      } while (i >= 0 && s <= this.nodes[i].hi && s >= low);
      if (s >= low) break;
      if (low === 0 && retryPfn < limit) {
        high = limit;
        low = retryPfn + 1;
        // The lowest node at or above the limit (iova_find_limit; the anchor for 64-bit).
        i = limit > this.dma32 ? this.nodes.length - 1 : this.nodes.findIndex((n) => n.hi >= limit);
        continue;
      }
      this.max32 = size;
      return -1;
    }
    const node = { lo: s, hi: s + size - 1 };
    this.nodes.splice(i + 1, 0, node);
    if (node.hi < this.dma32) this.cached32 = node;
    else this.cached = node;
    return s;
  }

  free(lo: number): void {
    const i = this.nodes.findIndex((n) => n.lo === lo);
    const node = this.nodes[i];
    const next = this.nodes[i + 1];
    if (node === this.cached32 || (node.hi < this.dma32 && node.lo >= this.cached32.lo))
      this.cached32 = next;
    if (node.lo < this.dma32) this.max32 = this.dma32;
    if (node.lo >= this.cached.lo) this.cached = next;
    this.nodes.splice(i, 1);
  }
}

/** Highest aligned start s with [s, s + n) free and s + n ≤ limit; -1 if none. */
function highestFit(used: Uint8Array, n: number, mask: number, limit: number): number {
  for (let top = limit; top >= n; top--) {
    const s = (top - n) & mask;
    if (s + n !== top) continue;
    if (used.subarray(s, s + n).every((u) => u === 0)) return s;
  }
  return -1;
}

const op = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("alloc" as const),
      npages: fc.oneof(
        fc.constant(1),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 40 }),
      ),
      align: fc.constantFrom(1, 1, 2, 8),
      limit: fc.option(fc.integer({ min: 1, max: 256 }), { nil: undefined }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }) },
);

describe("iova policies against simple reference allocators (fast-check, seeds printed on failure)", () => {
  const Wm = 256;
  for (const sizeAligned of [false, true]) {
    test(`iova-rbtree gives the answers of iova.c's walk written over an array (sizeAligned ${sizeAligned})`, () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 200, size: "max" }), (ops) => {
          const p = new IovaRbTree(Wm, new MeterLog(), { dma32Pages: 0, sizeAligned });
          p.addRange(0, Wm);
          const ref = new ReferenceIova(Wm, Wm / 2);
          const live: { page: number; n: number }[] = [];
          for (const o of ops) {
            if (o.kind === "alloc") {
              const limit = o.limit ?? Wm;
              const got = p.alloc(o.npages, o.align, 0, limit);
              expect(got).toBe(
                ref.alloc(o.npages, alignMask(o.npages, o.align, sizeAligned), limit),
              );
              if (got >= 0) live.push({ page: got, n: o.npages });
            } else if (live.length > 0) {
              const [a] = live.splice(o.pick % live.length, 1);
              p.free(a.page, a.n, 0);
              ref.free(a.page);
            }
          }
        }),
        { seed: 42, numRuns: 200 },
      );
    });
  }

  for (const index of ["augmented", "maple"] as const) {
    test(`iova-${index} takes the highest aligned fit below the limit and fails only when there is none`, () => {
      fc.assert(
        fc.property(
          fc.boolean(),
          fc.array(op, { maxLength: 300, size: "max" }),
          (sizeAligned, ops) => {
            const p = new GapSearch(index, Wm, new MeterLog(), { dma32Pages: 0, sizeAligned });
            p.addRange(0, Wm);
            const used = new Uint8Array(Wm);
            const live: { page: number; n: number }[] = [];
            for (const o of ops) {
              if (o.kind === "alloc") {
                const limit = o.limit ?? Wm;
                const got = p.alloc(o.npages, o.align, 0, limit);
                expect(got).toBe(
                  highestFit(used, o.npages, alignMask(o.npages, o.align, sizeAligned), limit),
                );
                if (got >= 0) {
                  used.fill(1, got, got + o.npages);
                  live.push({ page: got, n: o.npages });
                }
              } else if (live.length > 0) {
                const [a] = live.splice(o.pick % live.length, 1);
                p.free(a.page, a.n, 0);
                used.fill(0, a.page, a.page + a.n);
              }
              expect(p.stats().allocatedPages).toBe(used.reduce((x, u) => x + u, 0));
            }
          },
        ),
        { seed: 43, numRuns: 200 },
      );
    });
  }
});

describe("the comb pattern: linear walks in iova-rbtree, logarithmic in the gap-indexed trees", () => {
  const worst = (
    make: (w: number) => { stats(): Record<string, number> } & Parameters<typeof applyOps>[0],
    live: number,
  ) => {
    const w = 8 * live + 1024;
    const p = make(w);
    const failed = applyOps(
      p,
      w,
      combPattern({ live, cycles: 256, toothPages: 1, bigPages: 4, cpus: 4 }),
    );
    expect(failed).toBe(0);
    return p.stats().nodesMax;
  };
  const sizes = [256, 1024, 4096, 16384];

  test("iova-rbtree's worst alloc visits a number of nodes that grows with the live ranges (at least n/2 at each size)", () => {
    const rbWorst = sizes.map((n) => worst((w) => new IovaRbTree(w, new MeterLog()), n));
    for (let i = 0; i < sizes.length; i++) expect(rbWorst[i]).toBeGreaterThanOrEqual(sizes[i] / 2);
    // 64 times the ranges, at least 32 times the walk.
    expect(rbWorst[3] / rbWorst[0]).toBeGreaterThan(32);
  });

  for (const index of ["augmented", "maple"] as const) {
    test(`iova-${index}'s worst alloc grows at most logarithmically: within 8·log2(n) nodes, and 64 times the ranges add at most 8·log2(64) nodes`, () => {
      const got = sizes.map((n) => worst((w) => new GapSearch(index, w, new MeterLog()), n));
      for (let i = 0; i < sizes.length; i++)
        expect(got[i]).toBeLessThanOrEqual(8 * Math.log2(sizes[i]));
      expect(got[3] - got[0]).toBeLessThanOrEqual(8 * 6);
    });
  }
});
