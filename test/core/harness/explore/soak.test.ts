import { describe, expect, test } from "bun:test";
import { soak, soakEpoch } from "../../../../core/harness/explore/soak.ts";
import { Hypervisor } from "../../../../core/model/hv/hypervisor.ts";
import { explorePolicies } from "../../../../tools/explore-policies.ts";

const opts = {
  events: 1,
  epochNs: 3_000_000,
  seed: 1,
  policies: explorePolicies,
  checkEveryNs: 20_000,
};

describe("soak (smoke: the long run is `bun run soak`)", () => {
  test("boots with traffic, a death, broker restarts and loss end with everything free", async () => {
    const s = await soak({ ...opts, events: 100_000 });
    expect(s.violations).toEqual([]);
    expect(s.events).toBeGreaterThanOrEqual(100_000);
    expect(s.epochs).toBeGreaterThanOrEqual(2); // a lease boot and a per-map boot
    expect(s.maps).toBeGreaterThan(1000);
    expect(s.deaths).toBe(s.epochs);
    expect(s.restarts).toBeGreaterThanOrEqual(2 * s.epochs);
    expect(s.checks).toBeGreaterThan(100);
  }, 60_000);

  test("the same seed gives the same boot", () => {
    const a = soakEpoch(0, opts);
    const b = soakEpoch(0, opts);
    expect(b).toEqual(a);
  }, 60_000);

  test("a death that leaves a stale TTE behind is caught by the periodic checks", () => {
    const kill = Hypervisor.prototype.killDomain;
    // The dead guest's memory is freed, but one TTE in a free entry still points into it.
    Hypervisor.prototype.killDomain = function (this: Hypervisor, id: number, reason: string) {
      const io = [...this.iommus.values()][0]!;
      const free = io.entryOwner.indexOf(-1);
      const page = this.domains[id]!.mem.paPageOf(0);
      kill.call(this, id, reason);
      io.iotsb.set(free, page, 3);
    };
    try {
      const e = soakEpoch(0, opts);
      expect(e.violations.join("\n")).toMatch(
        /epoch 0 \(seed 1\) t=\d+ns: .*valid TTE in an unowned entry/,
      );
      // Found while the boot runs (by the periodic checks), not only when it ends.
      expect(Number(/t=(\d+)ns/.exec(e.violations[0]!)![1])).toBeLessThan(opts.epochNs);
    } finally {
      Hypervisor.prototype.killDomain = kill;
    }
  }, 60_000);
});
