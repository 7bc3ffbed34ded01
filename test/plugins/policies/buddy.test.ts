import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { isRefusal } from "../../../core/index.ts";
import { MeterLog } from "../../../core/model/domains/policy-meter.ts";
import buddy, { BuddyPolicy } from "../../../plugins/policies/buddy.ts";
import { globalCmd, runGlobal } from "./policy-model.ts";

const log2ceil = (n: number) => Math.ceil(Math.log2(n));

/** Largest 2^j ≤ window such that some 2^j-aligned run of 2^j pages is entirely free. */
function largestFreeAligned(busy: Uint8Array, min = 0): number {
  const prefix = new Int32Array(busy.length + 1);
  for (let p = 0; p < busy.length; p++) prefix[p + 1] = prefix[p] + busy[p];
  for (let j = Math.floor(Math.log2(busy.length)); j >= min; j--) {
    const size = 2 ** j;
    for (let s = 0; s + size <= busy.length; s += size) {
      if (prefix[s + size] === prefix[s]) return size;
    }
  }
  return 0;
}

describe("buddy", () => {
  test("property: blocks aligned to their size, never overlapping (waste included), coalesced fully; exact accounting", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(64, 100, 256),
        fc.array(globalCmd(256), { maxLength: 120, size: "max" }),
        (w, cmds) => {
          const policy = buddy.setup(
            {} as never,
            {},
          )({ windowPages: w, guests: [1, 2, 3, 4], meter: new MeterLog() });
          const cmdsInWindow = cmds.filter((c) => c.op !== "restore" || c.base < w);
          /** 1 = inside a granted block (its unused tail too) or a restored page. */
          const busy = new Uint8Array(w);
          const blocks = new Map<number, { npages: number; size: number; trimmed: boolean }>();
          let waste = 0;
          const trim = (base: number, end: number) => {
            for (const [b, g] of blocks) {
              if (g.trimmed || b + g.size <= base || b >= end) continue;
              busy.fill(0, b + g.npages, b + g.size);
              waste -= g.size - g.npages;
              g.trimmed = true;
            }
          };
          runGlobal(policy, w, cmdsInWindow, {
            grant(_m, c, got) {
              const size = 2 ** log2ceil(c.npages);
              if (isRefusal(got)) {
                // Full coalescing: no aligned free run of the needed order exists.
                const need = Math.max(size, c.align);
                expect(largestFreeAligned(busy)).toBeLessThan(need);
                return;
              }
              expect(got % size).toBe(0);
              expect(got + size).toBeLessThanOrEqual(w);
              expect(busy.subarray(got, got + size).every((b) => b === 0)).toBe(true);
              busy.fill(1, got, got + size);
              blocks.set(got, { npages: c.npages, size, trimmed: false });
              waste += size - c.npages;
            },
            revoke(_m, g) {
              const b = blocks.get(g.base);
              if (b !== undefined && b.npages === g.npages) {
                blocks.delete(g.base);
                busy.fill(0, g.base, g.base + (b.trimmed ? b.npages : b.size));
                if (!b.trimmed) waste -= b.size - b.npages;
              } else busy.fill(0, g.base, g.base + g.npages);
            },
            restore(_m, g) {
              trim(g.base, g.base + g.npages);
              busy.fill(1, g.base, g.base + g.npages);
            },
            stats(_m, s) {
              const free = busy.filter((b) => b === 0).length;
              expect(s).toMatchObject({
                freePages: free,
                internalFragmentation: waste,
                largestFreeBlock: largestFreeAligned(busy),
              });
            },
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  test("splits down to the request and coalesces back to one block", () => {
    const p = new BuddyPolicy(16);
    expect(p.grant(1, 1, 1)).toBe(0);
    expect(p.grant(1, 3, 1)).toBe(4); // rounds up to 4: [2, 4) is too small
    expect(p.grant(2, 2, 1)).toBe(2);
    expect(p.grant(2, 1, 8)).toBe(8); // alignment beyond the size: a block of order 3 is split
    expect(p.stats()).toMatchObject({
      allocatedPages: 7,
      internalFragmentation: 1,
      freePages: 8,
      freeBlocks: 4, // pages 1 and 9, [10, 12), [12, 16)
    });
    p.revoke(1, 0, 1);
    p.revoke(2, 2, 2);
    p.revoke(1, 4, 3);
    p.revoke(2, 8, 1);
    expect(p.stats()).toMatchObject({
      allocatedPages: 0,
      internalFragmentation: 0,
      freePages: 16,
      freeBlocks: 1,
      largestFreeBlock: 16,
      fragmentation: 0,
    });
  });

  test("a window that is not a power of two is tiled by the largest aligned blocks", () => {
    const p = new BuddyPolicy(24);
    expect(p.stats()).toMatchObject({ freeBlocks: 2, largestFreeBlock: 16, freePages: 24 });
    expect(p.grant(1, 9, 1)).toBe(0);
    expect(p.grant(1, 9, 1)).toEqual({
      refused: "no free block of 16 pages aligned to 1 (largest free block 8 pages)",
    });
    expect(p.grant(1, 8, 1)).toBe(16);
  });

  test("a restore over the unused tail of a grant makes that grant page-exact", () => {
    const p = new BuddyPolicy(16);
    expect(p.grant(1, 5, 1)).toBe(0); // block [0, 8), tail [5, 8)
    p.restore(2, 6, 1);
    expect(p.stats()).toMatchObject({ allocatedPages: 6, internalFragmentation: 0, freePages: 10 });
    p.revoke(1, 0, 5);
    p.revoke(2, 6, 1);
    expect(p.stats()).toMatchObject({ freeBlocks: 1, freePages: 16 });
    expect(() => p.restore(1, 0, 17)).toThrow();
  });
});
