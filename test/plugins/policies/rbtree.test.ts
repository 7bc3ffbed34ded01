import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Hooks } from "../../../core/harness/plugin/hooks.ts";
import { PluginHost } from "../../../core/harness/plugin/host.ts";
import type { CoreHooks } from "../../../core/index.ts";
import { MeterLog } from "../../../core/model/domains/policy-meter.ts";
import { EventBus } from "../../../core/model/events/index.ts";
import { fnv1a32, Rng } from "../../../core/model/sim/rng.ts";
import rbtree, { RbTreePolicy } from "../../../plugins/policies/rbtree.ts";
import { CPUS, FREE, localCmd, lowestFit, runLocal } from "./policy-model.ts";

const W = 256;

function host(checkPolicies = true) {
  return new PluginHost({
    hooks: new Hooks<CoreHooks>(),
    bus: new EventBus(() => 0),
    rng: (s) => new Rng(fnv1a32(s)),
    checkPolicies,
  });
}

/** The maximal run of free pages around `page`: [lo, hi). */
function gapAround(state: Uint8Array, page: number): [number, number] {
  let lo = page;
  while (lo > 0 && state[lo - 1] === FREE) lo--;
  let hi = page;
  while (hi < state.length && state[hi] === FREE) hi++;
  return [lo, hi];
}

/** Every maximal run of free pages: [lo, hi). */
function gaps(state: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  for (let p = 0; p < state.length; ) {
    if (state[p] !== FREE) {
      p++;
      continue;
    }
    const g = gapAround(state, p);
    out.push(g);
    p = g[1];
  }
  return out;
}

const topOf = ([lo, hi]: [number, number], n: number, align: number) => {
  const s = Math.floor((hi - n) / align) * align;
  return s >= lo ? s : -1;
};

describe("rbtree", () => {
  test("property: fails only when nothing fits, places at the top of a gap (best-fit: the smallest); exact accounting", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("top-down" as const, "best-fit" as const),
        fc.array(localCmd(W), { maxLength: 120, size: "max" }),
        (mode, cmds) => {
          const policy = host().use(rbtree, { mode })({
            windowPages: W,
            cpus: CPUS,
            meter: new MeterLog(),
          });
          runLocal(policy, W, cmds, {
            alloc(m, c, got) {
              if (got < 0) {
                expect(lowestFit(m.state, c.npages, c.align)).toBe(-1);
                return;
              }
              const gap = gapAround(m.state, got);
              expect(got).toBe(topOf(gap, c.npages, c.align));
              if (mode === "best-fit") {
                const fitting = gaps(m.state).filter((g) => topOf(g, c.npages, c.align) >= 0);
                expect(gap[1] - gap[0]).toBe(Math.min(...fitting.map(([lo, hi]) => hi - lo)));
              }
            },
            stats(m, s) {
              const all = gaps(m.state);
              expect(s).toMatchObject({
                heldPages: W - m.count(0),
                allocationRanges: expect.any(Number),
                freeGaps: all.length,
                largestFreeRun: Math.max(0, ...all.map(([lo, hi]) => hi - lo)),
              });
            },
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  test("top-down from the cached node; a free above it moves the cache up (iova.c)", () => {
    const p = new RbTreePolicy(128);
    p.addRange(0, 64);
    expect([63, 62, 61, 60].map(() => p.alloc(1, 1, 0))).toEqual([63, 62, 61, 60]);
    p.free(62, 1, 0); // above the cache: the cache moves to the node above it (63)
    expect(p.alloc(2, 1, 0)).toBe(58); // [62, 63) is too small; the walk goes on down
    expect(p.alloc(1, 1, 0)).toBe(57); // next fit from the new cache: 62 is passed over
    p.free(63, 1, 0);
    expect(p.alloc(1, 1, 0)).toBe(63);
  });

  test("a failed unaligned size makes larger requests fail until something is freed", () => {
    const p = new RbTreePolicy(128);
    p.addRange(0, 64);
    p.alloc(8, 1, 0);
    expect(p.alloc(57, 1, 0)).toBe(-1);
    expect(p.alloc(60, 4, 0)).toBe(-1);
    expect(p.stats()).toMatchObject({ failures: 2 });
    p.free(56, 8, 0);
    expect(p.alloc(60, 4, 0)).toBe(4);
  });

  test("best-fit takes the top of the smallest gap that fits", () => {
    const p = new RbTreePolicy(64, "best-fit");
    p.addRange(0, 10);
    p.addRange(20, 3);
    p.addRange(40, 4);
    expect([p.alloc(3, 1, 0), p.alloc(2, 1, 0), p.alloc(1, 1, 0), p.alloc(4, 4, 0)]).toEqual([
      20, 42, 41, 4,
    ]);
  });

  test("frees may name pieces of allocations; ranges may be removed in pieces", () => {
    const p = new RbTreePolicy(128);
    p.addRange(0, 64);
    expect(p.alloc(8, 1, 0)).toBe(56);
    p.free(58, 2, 0);
    expect(p.stats()).toMatchObject({ allocationRanges: 2, allocatedPages: 6 });
    expect(p.alloc(2, 2, 0)).toBe(58);
    p.free(56, 4, 0); // spans two nodes
    p.free(60, 4, 0);
    expect(() => p.free(60, 1, 0)).toThrow("page 60 is not allocated");
    p.removeRange(16, 16);
    p.removeRange(0, 16); // merges with the stretch removed before
    expect(p.stats()).toMatchObject({ heldPages: 32, freeGaps: 1, largestFreeRun: 32 });
    p.alloc(1, 1, 0);
    expect(() => p.removeRange(60, 8)).toThrow("not all of it is held and free");
    expect(() => p.addRange(40, 4)).toThrow("already held");
  });

  test("single-page churn over a full 2 GiB window keeps exact accounting", () => {
    const pages = 262_144;
    const p = host(false).use(rbtree)({ windowPages: pages, cpus: 1, meter: new MeterLog() });
    p.addRange(0, pages);
    const rng = new Rng(7);
    // Fill, then free a random half: holes everywhere, as after a long run.
    const all = Int32Array.from({ length: pages }, () => p.alloc(1, 1, 0));
    for (let i = pages - 1; i > 0; i--) {
      const j = rng.int(0, i + 1);
      [all[i], all[j]] = [all[j], all[i]];
    }
    const live = all.subarray(0, pages >> 1);
    for (const page of all.subarray(pages >> 1)) p.free(page, 1, 0);
    for (let i = 0; i < 200_000; i++) {
      const slot = rng.int(0, live.length);
      p.free(live[slot], 1, 0);
      live[slot] = p.alloc(1, 1, 0);
      if (live[slot] < 0) throw new Error("alloc failed");
    }
    // Speed is measured in `bun run bench policies`, not here.
    expect(p.stats()).toMatchObject({ allocatedPages: pages >> 1, allocationRanges: pages >> 1 });
  });

  test("options: mode is top-down or best-fit", () => {
    expect(() => host().use(rbtree, { mode: "bestfit" })).toThrow('did you mean "best-fit"');
  });
});
