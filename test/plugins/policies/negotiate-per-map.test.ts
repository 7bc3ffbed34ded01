import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { MeterLog } from "../../../core/model/domains/policy-meter.ts";
import negotiatePerMap, {
  NegotiatePerMapPolicy,
} from "../../../plugins/policies/negotiate-per-map.ts";
import { CPUS, FREE, localCmd, lowestFit, policyHost, runLocal } from "./policy-model.ts";

const W = 200;

/** The lowest free run of exactly n pages starting aligned, else the lowest fit. */
function expected(state: Uint8Array, n: number, align: number): number {
  for (let p = 0; p < state.length; ) {
    if (state[p] !== FREE) {
      p++;
      continue;
    }
    let e = p;
    while (e < state.length && state[e] === FREE) e++;
    if (e - p === n && p % align === 0) return p;
    p = e;
  }
  return lowestFit(state, n, align);
}

describe("negotiate-per-map", () => {
  test("property: an exact free run first, else the lowest fit; exact accounting", () => {
    fc.assert(
      fc.property(fc.array(localCmd(W), { maxLength: 120, size: "max" }), (cmds) => {
        const policy = policyHost().use(negotiatePerMap)({
          windowPages: W,
          cpus: CPUS,
          meter: new MeterLog(),
        });
        runLocal(policy, W, cmds, {
          alloc(m, c, got) {
            expect(got).toBe(expected(m.state, c.npages, c.align));
          },
        });
      }),
      { numRuns: 300 },
    );
  });

  test("says acquire: per-map, also behind the host's checked wrapper", () => {
    expect(new NegotiatePerMapPolicy(8).acquire).toBe("per-map");
    const policy = policyHost().use(negotiatePerMap)({
      windowPages: 8,
      cpus: 1,
      meter: new MeterLog(),
    });
    expect(policy.acquire).toBe("per-map");
  });

  test("each grant is one mapping: the run of the right size is taken whole", () => {
    const p = new NegotiatePerMapPolicy(64);
    p.addRange(0, 8);
    p.addRange(20, 3);
    p.addRange(40, 1);
    expect([p.alloc(1, 1, 0), p.alloc(3, 1, 0), p.alloc(2, 1, 0)]).toEqual([40, 20, 0]);
    expect(p.stats()).toMatchObject({ exactFits: 2, allocatedPages: 6, ranges: 3 });
    p.free(20, 3, 0);
    p.removeRange(20, 3);
    expect(p.stats()).toMatchObject({ heldPages: 9, ranges: 2 });
    expect(() => p.removeRange(30, 1)).toThrow("not a held range");
  });
});
