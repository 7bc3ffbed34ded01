import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Hooks } from "../../../core/harness/plugin/hooks.ts";
import { PluginHost } from "../../../core/harness/plugin/host.ts";
import type { CoreHooks } from "../../../core/index.ts";
import { MeterLog } from "../../../core/model/domains/policy-meter.ts";
import { EventBus } from "../../../core/model/events/index.ts";
import { fnv1a32, Rng } from "../../../core/model/sim/rng.ts";
import magazine, { MagazinePolicy } from "../../../plugins/policies/magazine.ts";
import { RbTreePolicy } from "../../../plugins/policies/rbtree.ts";
import { CPUS, FREE, localCmd, lowestFit, runLocal, type Span } from "./policy-model.ts";

const W = 256;

function host() {
  return new PluginHost({
    hooks: new Hooks<CoreHooks>(),
    bus: new EventBus(() => 0),
    rng: (s) => new Rng(fnv1a32(s)),
  });
}

const blockOf = (npages: number) => (npages > 32 ? npages : 2 ** Math.ceil(Math.log2(npages)));

function make(windowPages: number, cpus: number, size = 127, depot = 32) {
  return new MagazinePolicy(new RbTreePolicy(windowPages), windowPages, cpus, size, depot);
}

describe("magazine", () => {
  test("property: blocks are whole size classes, fail only when no block fits, caches flushed on removeRange; exact accounting", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 2 }),
        fc.array(localCmd(W, 40), { maxLength: 150, size: "max" }),
        (magazineSize, depotMags, cmds) => {
          const policy = host().use(magazine, { magazineSize, depotMags })({
            windowPages: W,
            meter: new MeterLog(),
            cpus: CPUS,
          });
          /** Unused tails of live rounded-up blocks, by the block's first page. */
          const tails = new Map<number, Span>();
          const usable = (state: Uint8Array) => {
            const s = state.slice();
            for (const t of tails.values()) s.fill(0, t.base, t.base + t.npages);
            return s;
          };
          runLocal(policy, W, cmds, {
            alloc(m, c, got) {
              const block = blockOf(c.npages);
              const s = usable(m.state);
              if (got < 0) {
                expect(lowestFit(s, block, c.align)).toBe(-1);
                return;
              }
              expect(s.subarray(got, got + block).every((x) => x === FREE)).toBe(true);
              if (block > c.npages)
                tails.set(got, { base: got + c.npages, npages: block - c.npages });
            },
            free(_m, a) {
              tails.delete(a.base);
            },
            remove(_m, span) {
              for (const [b, t] of tails)
                if (t.base < span.base + span.npages && t.base + t.npages > span.base)
                  tails.delete(b);
            },
            stats(m, s) {
              let waste = 0;
              for (const t of tails.values()) waste += t.npages;
              expect(s.internalFragmentation).toBe(waste);
              expect(s.heldPages).toBe(W - m.count(0));
              expect(s.cachedPages).toBeGreaterThanOrEqual(0);
              expect(s.cachedPages + waste).toBeLessThanOrEqual(s.freePages);
            },
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  test("a freed block comes back on the same CPU first (LIFO), other CPUs go to the tree", () => {
    const p = make(64, 2);
    p.addRange(0, 64);
    expect(p.alloc(1, 1, 0)).toBe(63);
    expect(p.alloc(1, 1, 0)).toBe(62);
    p.free(63, 1, 0);
    expect(p.alloc(1, 1, 1)).toBe(61); // cpu 1's magazines are empty
    expect(p.alloc(1, 1, 0)).toBe(63);
    expect(p.stats()).toMatchObject({ cacheHits: 1, cacheMisses: 3 });
  });

  test("requests round up to a size class; the rest is internal fragmentation", () => {
    const p = make(64, 1);
    p.addRange(0, 64);
    expect(p.alloc(3, 1, 0)).toBe(60);
    expect(p.stats()).toMatchObject({
      allocatedPages: 3,
      internalFragmentation: 1,
      treeAllocatedPages: 4,
    });
    p.free(60, 3, 0);
    expect(p.alloc(4, 1, 0)).toBe(60); // the cached 4-page block
    expect(p.alloc(33, 1, 0)).toBe(27); // over 32 pages: straight from the tree, exact
    p.free(27, 33, 0);
    expect(p.stats()).toMatchObject({
      allocatedPages: 4,
      cachedPages: 0,
      internalFragmentation: 0,
    });
  });

  test("loaded, prev, then the depot; a full depot spills into the tree", () => {
    const p = make(64, 1, 2, 1);
    p.addRange(0, 64);
    const pages = Array.from({ length: 8 }, () => p.alloc(1, 1, 0));
    for (const page of pages) p.free(page, 1, 0);
    // prev (63, 62), the depot (61, 60), loaded (57, 56): 59 and 58 spilled into the tree.
    expect(p.stats()).toMatchObject({ cachedPages: 6, depotMagazines: 1, treeAllocatedPages: 6 });
    const again = Array.from({ length: 6 }, () => p.alloc(1, 1, 0));
    expect(again.sort((x, y) => x - y)).toEqual([56, 57, 60, 61, 62, 63]);
    expect(p.stats()).toMatchObject({ cachedPages: 0, depotMagazines: 0, cacheHits: 6 });
  });

  test("when the tree fails, every cache is flushed and the tree asked again", () => {
    const p = make(16, 2);
    p.addRange(0, 16);
    const pages = Array.from({ length: 16 }, () => p.alloc(1, 1, 0));
    for (const page of pages) p.free(page, 1, 1); // all cached on cpu 1
    expect(p.alloc(16, 1, 0)).toBe(0);
    expect(p.stats()).toMatchObject({ flushes: 1, cachedPages: 0 });
  });

  test("removeRange flushes cached blocks reaching into it and trims rounded-up tails", () => {
    const p = make(64, 1);
    p.addRange(0, 16);
    p.addRange(16, 16);
    expect(p.alloc(8, 1, 0)).toBe(24);
    p.free(24, 8, 0); // cached
    expect(p.alloc(3, 1, 0)).toBe(20); // block [20, 24): page 23 is its unused tail
    p.removeRange(28, 4); // the cached block reaches in: it goes back to the tree first
    expect(p.stats()).toMatchObject({ cachedPages: 0, heldPages: 28, internalFragmentation: 1 });
    p.removeRange(23, 1); // the tail: trimmed off the live block
    expect(p.stats()).toMatchObject({ internalFragmentation: 0, treeAllocatedPages: 3 });
    p.free(20, 3, 0); // trimmed: straight back to the tree
    expect(p.alloc(4, 1, 0)).toBe(24);
    expect(p.stats()).toMatchObject({ allocatedPages: 4, treeAllocatedPages: 4, cachedPages: 0 });
  });

  test("options: defaults as Linux, and validated", () => {
    const h = host();
    h.use(magazine);
    expect(h.getByName("magazine")?.options).toEqual({
      magazineSize: 127,
      depotMags: 32,
      backingMode: "top-down",
    });
    expect(() => host().use(magazine, { magazineSize: 0 })).toThrow("/magazineSize");
  });
});
