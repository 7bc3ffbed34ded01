/** stats() is optional on a policy: the checked wrapper's ledger answers for it. */
import { describe, expect, test } from "bun:test";
import { definePlugin, type LocalPolicy, runConformance } from "../../../../core/index.ts";
import { checkLocalPolicy } from "../../../../core/model/domains/checked-local.ts";

/** First fit over a page map, with no counters and no stats(). */
function bare(windowPages: number): LocalPolicy {
  const held = new Uint8Array(windowPages); // 0 not held, 1 free, 2 allocated
  return {
    addRange: (base, n) => held.fill(1, base, base + n),
    removeRange: (base, n) => held.fill(0, base, base + n),
    alloc(n, align, _cpu, limit = windowPages) {
      for (let p = 0; p + n <= limit; p += align) {
        let ok = true;
        for (let i = p; i < p + n && ok; i++) ok = held[i] === 1;
        if (ok) {
          held.fill(2, p, p + n);
          return p;
        }
      }
      return -1;
    },
    free: (page, n) => held.fill(1, page, page + n),
  };
}

describe("stats() is optional", () => {
  test("the checked wrapper counts pages, allocations and failures for a policy without stats()", () => {
    const p = checkLocalPolicy("bare", bare(64), 64);
    p.addRange(0, 16);
    expect(p.alloc(4, 1, 0)).toBe(0);
    expect(p.alloc(32, 1, 0)).toBe(-1);
    expect(p.stats()).toEqual({ allocatedPages: 4, freePages: 12, allocations: 1, failures: 1 });
  });

  test("a policy plugin without stats() passes the policy kit", () => {
    const plugin = definePlugin({
      name: "bare-first-fit",
      kind: "policy.local",
      version: "1.0.0",
      setup: () => (ctx) => bare(ctx.windowPages),
    });
    const report = runConformance(plugin, { runs: 3 });
    // A scan of the whole window: correct, but the speed check rightly flags it (speed.test.ts).
    expect(report.checks.filter((c) => !c.passed && c.name !== "speed")).toEqual([]);
  });
});
