import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { MeterLog } from "../../../core/model/domains/policy-meter.ts";
import quota, { QuotaPolicy } from "../../../plugins/policies/quota.ts";
import { GUESTS, globalCmd, policyHost, runGlobal } from "./policy-model.ts";

const W = 200;

function lowestFree(owner: Int32Array, n: number, align: number): number {
  for (let b = 0; b + n <= owner.length; b += align) {
    if (owner.subarray(b, b + n).every((o) => o === -1)) return b;
  }
  return -1;
}

describe("quota", () => {
  test("property: refused exactly past the limit, otherwise the lowest fit; exact accounting", () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 1, max: 120 }), { nil: undefined }),
        fc.boolean(),
        fc.array(globalCmd(W), { maxLength: 120, size: "max" }),
        (maxPagesPerGuest, fairShare, cmds) => {
          const policy = policyHost().use(quota, { maxPagesPerGuest, fairShare })({
            windowPages: W,
            meter: new MeterLog(),
            guests: GUESTS,
          });
          let limit = maxPagesPerGuest ?? W;
          if (fairShare) limit = Math.min(limit, W / GUESTS.length);
          let refusals = 0;
          runGlobal(policy, W, cmds, {
            grant(m, c, got) {
              if (m.holds(c.domain) + c.npages > limit) {
                expect(got).toEqual({ refused: "quota-exceeded" });
                refusals++;
                return;
              }
              const expected = lowestFree(m.owner, c.npages, c.align);
              if (expected >= 0) expect(got).toBe(expected);
              else expect((got as { refused: string }).refused).toContain("no free range");
            },
            stats(m, s) {
              const atQuota = [0, ...GUESTS].filter((d) => {
                const h = m.holds(d);
                return h > 0 && h >= limit;
              }).length;
              expect(s).toMatchObject({
                quotaPages: limit,
                quotaRefusals: refusals,
                domainsAtQuota: atQuota,
              });
            },
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  test("fair share is windowPages / guests; the limit frees up on revoke and reclaim", () => {
    const policy = policyHost().use(quota)({
      windowPages: 90,
      guests: [1, 2, 3],
      meter: new MeterLog(),
    });
    expect(policy.grant(1, 30, 1)).toBe(0);
    expect(policy.grant(1, 1, 1)).toEqual({ refused: "quota-exceeded" });
    expect(policy.grant(2, 31, 1)).toEqual({ refused: "quota-exceeded" });
    policy.revoke(1, 0, 10);
    expect(policy.grant(1, 10, 1)).toBe(0);
    expect(policy.stats!()).toMatchObject({ quotaPages: 30, domainsAtQuota: 1, quotaRefusals: 2 });
  });

  test("a restore is taken past the limit; the domain is then refused until it drops below", () => {
    const p = new QuotaPolicy(64, 8);
    p.restore(3, 0, 12);
    expect(p.grant(3, 1, 1)).toEqual({ refused: "quota-exceeded" });
    p.revoke(3, 0, 5);
    expect(p.grant(3, 1, 1)).toBe(0);
    p.revoke(3, 0, 1);
    p.revoke(3, 5, 7);
    p.reclaim(3);
    expect(p.stats()).toMatchObject({ allocatedPages: 0, domainsAtQuota: 0 });
  });

  test("no fair share and no maximum: first fit over the whole window", () => {
    const policy = policyHost().use(quota, { fairShare: false })({
      windowPages: 64,
      guests: [1, 2],
      meter: new MeterLog(),
    });
    expect(policy.grant(1, 64, 1)).toBe(0);
    expect(() => policyHost().use(quota, { maxPagesPerGuest: 0 })).toThrow("/maxPagesPerGuest");
  });
});
