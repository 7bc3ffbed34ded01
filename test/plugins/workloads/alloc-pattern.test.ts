import { describe, expect, test } from "bun:test";
import { Rng } from "../../../core/model/sim/rng.ts";
import { mixPattern } from "../../../plugins/workloads/patterns.ts";
import { runAllocWorkload } from "./alloc-run.ts";

describe("alloc-pattern", () => {
  test("mix: long- and short-lived maps of weighted sizes (some over 32 pages), some 32-bit-limited, bursts back to back", () => {
    const ops = mixPattern(
      {
        cpus: 2,
        gapNs: 1000,
        untilNs: 200_000,
        longLivedShare: 0.25,
        longLifeNs: 50_000,
        shortLifeNs: 2_000,
        sizes: [
          { pages: 1, weight: 3 },
          { pages: 64, weight: 1 },
        ],
        dma32Share: 0.5,
        limitPages: 1000,
        burstEvery: 10,
        burstSize: 4,
      },
      new Rng(7),
    );
    const maps = ops.filter((o) => o.op === "map");
    expect(maps.length).toBeGreaterThan(200);
    expect(new Set(maps.map((o) => o.npages))).toEqual(new Set([1, 64]));
    expect(maps.some((o) => o.limit === 1000) && maps.some((o) => o.limit === undefined)).toBe(
      true,
    );
    // Each map's unmap comes after it, on the same vCPU, after a short or a long life.
    const at = new Map(maps.map((o) => [o.id, o]));
    const lives = new Set(
      ops.filter((o) => o.op === "unmap").map((o) => o.atNs - at.get(o.id)!.atNs),
    );
    expect(lives).toEqual(new Set([2_000, 50_000]));
    // Bursts: 4 maps at the same time on a vCPU.
    const cpu0 = maps.filter((o) => o.cpu === 0).map((o) => o.atNs);
    expect(cpu0.filter((t) => t === cpu0[0]).length).toBe(4);
    expect([...ops.map((o) => o.atNs)]).toEqual([...ops.map((o) => o.atNs)].sort((a, b) => a - b));
  });

  test("mix through the guest: every map answered inside the 32-bit limit when limited (the checked policy would report otherwise)", async () => {
    for (const policy of ["iova-rbtree", "iova-rcache", "iommu-common"]) {
      const r = await runAllocWorkload(
        ["alloc-pattern", { pattern: "mix", gapNs: 2000, mix: { dma32Share: 0.5 } }],
        policy,
      );
      const e = r.metrics.extra;
      expect(e.policyErrors).toBe(0);
      expect(e["alloc.failures"]).toBe(0);
      expect(e["alloc.maps"]).toBeGreaterThan(1000);
    }
  });

  test("comb through the guest: iova-rbtree's worst alloc walks the comb (≥ n nodes), iova-maple's stays near log2(n)", async () => {
    const live = 2048;
    const run = async (policy: string) =>
      (
        await runAllocWorkload(
          ["alloc-pattern", { pattern: "comb", gapNs: 1000, comb: { live } }],
          policy,
          4,
          "20ms",
        )
      ).metrics.extra;
    const rb = await run("iova-rbtree");
    const maple = await run("iova-maple");
    expect(rb["alloc.workMax"]).toBeGreaterThanOrEqual(live);
    expect(maple["alloc.workMax"]).toBeLessThanOrEqual(8 * Math.log2(live));
    expect(rb["alloc.worstAllocationRanges"]).toBeGreaterThanOrEqual(live);
  });
});
