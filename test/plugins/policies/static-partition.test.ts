import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { isRefusal } from "../../../core/index.ts";
import { MeterLog } from "../../../core/model/domains/policy-meter.ts";
import staticPartition, {
  StaticPartitionPolicy,
} from "../../../plugins/policies/static-partition.ts";
import { GUESTS, globalCmd, policyHost, runGlobal } from "./policy-model.ts";

/** Not a multiple of most slice counts, so a remainder is left over. */
const W = 250;

/** Lowest aligned start in [lo, hi) with n free pages (owner -1), or -1. */
function lowestFree(owner: Int32Array, n: number, align: number, lo: number, hi: number): number {
  for (let b = Math.ceil(lo / align) * align; b + n <= hi; b += align) {
    if (owner.subarray(b, b + n).every((o) => o === -1)) return b;
  }
  return -1;
}

describe("static-partition", () => {
  test("property: lowest fit inside the guest's own slice; refusals name the reason; exact accounting", () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 1, max: 7 }), { nil: undefined }),
        fc.boolean(),
        fc.array(globalCmd(W), { maxLength: 120, size: "max" }),
        (slices, includeControl, cmds) => {
          const policy = policyHost().use(staticPartition, { slices, includeControl })({
            windowPages: W,
            meter: new MeterLog(),
            guests: GUESTS,
          });
          const n = slices ?? GUESTS.length + (includeControl ? 1 : 0);
          const size = Math.floor(W / n);
          // Domain 0 is the only non-guest in the commands: it binds the control slice.
          const sliceOf = (d: number) => {
            const i = d === 0 ? (includeControl ? GUESTS.length : -1) : GUESTS.indexOf(d as 1);
            return i >= 0 && i < n ? i : -1;
          };
          runGlobal(policy, W, cmds, {
            grant(m, c, got) {
              const i = sliceOf(c.domain);
              if (i < 0) {
                expect(got).toEqual({ refused: "outside-partition" });
                return;
              }
              const expected = lowestFree(m.owner, c.npages, c.align, i * size, (i + 1) * size);
              expect(got).toEqual(expected < 0 ? { refused: "partition-full" } : expected);
            },
            stats(m, s) {
              const owned = [0, 1, 2, 3, 4].map(sliceOf).filter((i) => i >= 0);
              const free = owned.reduce(
                (t, i) =>
                  t + m.owner.subarray(i * size, (i + 1) * size).filter((o) => o === -1).length,
                0,
              );
              expect(s).toMatchObject({
                freePages: free,
                slices: n,
                slicePages: size,
                unassignedPages: W - owned.length * size,
              });
            },
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  test("slices follow the guests' order and are fixed at creation", () => {
    const p = new StaticPartitionPolicy(100, [7, 3, 5]);
    expect([p.slices, p.slicePages]).toEqual([3, 33]);
    expect(p.grant(3, 10, 1)).toBe(33);
    expect(p.grant(5, 33, 1)).toBe(66);
    expect(p.grant(5, 1, 1)).toEqual({ refused: "partition-full" }); // page 99 is nobody's
    expect(p.grant(7, 34, 1)).toEqual({ refused: "partition-full" });
    expect(p.grant(0, 1, 1)).toEqual({ refused: "outside-partition" });
    p.revoke(3, 33, 10);
    p.reclaim(3);
    expect(p.grant(3, 4, 4)).toBe(36); // aligned in window indices, not slice offsets
    expect(p.stats()).toMatchObject({ allocatedPages: 37, freePages: 62, unassignedPages: 1 });
  });

  test("the control domain gets the slice after the guests' only with includeControl", () => {
    const p = new StaticPartitionPolicy(90, [1, 2], undefined, true);
    expect(p.grant(0, 1, 1)).toBe(60);
    expect(p.grant(9, 1, 1)).toEqual({ refused: "outside-partition" }); // bound to domain 0
    const q = new StaticPartitionPolicy(90, [1, 2], 2, true);
    expect(q.grant(0, 1, 1)).toEqual({ refused: "outside-partition" }); // no slice left for it
    const r = new StaticPartitionPolicy(90, [1, 2, 3], 2);
    expect(r.grant(3, 1, 1)).toEqual({ refused: "outside-partition" });
    expect(r.grant(2, 1, 1)).toBe(45);
  });

  test("a restore is taken wherever it falls, even across slices", () => {
    const p = new StaticPartitionPolicy(64, [1, 2]);
    p.restore(2, 30, 4);
    expect(p.grant(1, 3, 1)).toBe(0);
    expect(p.grant(1, 29, 1)).toEqual({ refused: "partition-full" });
    expect(p.grant(2, 1, 1)).toBe(34);
    p.revoke(2, 30, 2);
    p.revoke(2, 32, 2);
    expect(isRefusal(p.grant(1, 29, 1))).toBe(false);
    expect(() => p.restore(1, 0, 1)).toThrow("not free");
  });

  test("options are validated", () => {
    expect(() => policyHost().use(staticPartition, { slices: 0 })).toThrow("/slices");
    expect(() => policyHost().use(staticPartition, { includeControls: true })).toThrow(
      'did you mean "includeControl"',
    );
  });
});
