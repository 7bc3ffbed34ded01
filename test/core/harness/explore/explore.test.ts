import { afterEach, describe, expect, test } from "bun:test";
import {
  DEFAULT_BOUNDS,
  type ExploreBounds,
  explore,
  runSchedule,
  ScheduleError,
} from "../../../../core/harness/explore/index.ts";
import { Hypervisor } from "../../../../core/model/hv/hypervisor.ts";
import { explorePolicies } from "../../../../tools/explore-policies.ts";

const none: ExploreBounds = {
  ...DEFAULT_BOUNDS,
  losses: 0,
  duplicates: 0,
  delays: 0,
  deaths: 0,
  restarts: 0,
};

describe("protocol exploration (small bounds)", () => {
  test("every schedule with one guest death: all invariants hold, every end state quiescent", () => {
    const r = explore({
      bounds: { ...none, deaths: 1 },
      policies: explorePolicies,
      prune: true,
      maxStates: 100_000,
    });
    expect(r.counterexample).toBeUndefined();
    expect(r.complete).toBe(true);
    expect(r.states).toBeGreaterThan(10);
    expect(r.endStates).toBeGreaterThan(1);
    expect(r.pruned).toBeGreaterThan(0);
  }, 60_000);

  test("every schedule with one lost packet", () => {
    const r = explore({
      bounds: { ...none, losses: 1 },
      policies: explorePolicies,
      prune: true,
      maxStates: 100_000,
    });
    expect(r.counterexample).toBeUndefined();
    expect(r.complete).toBe(true);
  }, 60_000);

  test("a schedule replays to the same choices, events and end", () => {
    const first = runSchedule({ ...none, deaths: 1, losses: 1 }, explorePolicies, [1, 0, 1], null);
    const schedule = first.trail.map((p) => p.k);
    const again = runSchedule({ ...none, deaths: 1, losses: 1 }, explorePolicies, schedule, null);
    expect(again.trail).toEqual(first.trail);
    expect(again.events).toBe(first.events);
    expect(again.endKey).toBe(first.endKey);
  });

  test("a schedule that picks an option that is not there is refused", () => {
    expect(() => runSchedule(none, explorePolicies, [7], null)).toThrow(ScheduleError);
  });

  describe("finds a removed safety step", () => {
    const kill = Hypervisor.prototype.killDomain;
    afterEach(() => {
      Hypervisor.prototype.killDomain = kill;
    });

    test("a death that leaves the dead guest's TTEs valid is a counterexample, and replays", () => {
      // A death that forgets to clear the IOTSB (the rest of killDomain still runs).
      Hypervisor.prototype.killDomain = function (this: Hypervisor, id: number, reason: string) {
        const saved = [...this.iommus.values()].map((io) => io.iotsb.clear);
        for (const io of this.iommus.values()) io.iotsb.clear = () => false;
        try {
          kill.call(this, id, reason);
        } finally {
          [...this.iommus.values()].forEach((io, i) => {
            io.iotsb.clear = saved[i]!;
          });
        }
      };
      const bounds = { ...none, deaths: 1 };
      const r = explore({ bounds, policies: explorePolicies, prune: true, maxStates: 100_000 });
      expect(r.counterexample).toBeDefined();
      expect(r.counterexample!.violations.join("\n")).toMatch(/valid TTE/);
      const replay = runSchedule(bounds, explorePolicies, r.counterexample!.schedule, null);
      expect(replay.violations).toEqual(r.counterexample!.violations);
    }, 60_000);
  });
});
