import { describe, expect, test } from "bun:test";
import {
  DEFAULT_BOUNDS,
  type ExploreBounds,
  ExploreWorld,
  explore,
} from "../../../../core/harness/explore/index.ts";
import { KeyWriter } from "../../../../core/harness/explore/key-parts.ts";
import { GuestSwap } from "../../../../core/harness/explore/symmetry.ts";
import { explorePolicies } from "../../../../tools/explore-policies.ts";

const none: ExploreBounds = {
  ...DEFAULT_BOUNDS,
  losses: 0,
  duplicates: 0,
  delays: 0,
  deaths: 0,
  restarts: 0,
  stale: 0,
};

function key(world: ExploreWorld, swapped: boolean): bigint {
  const w = new KeyWriter();
  world.writeKey(w, [], swapped ? new GuestSwap(world.platform) : null);
  return w.digest();
}

/**
 * After guest `dies` (0 or 1) is killed at boot, the world run (first event due first) until the
 * other guest's mapping is in the IOTSB (it holds a lease, a TTE and window entries): its key and
 * its swapped key then, and the entries' owners.
 */
function mappedWithout(dies: number) {
  const world = new ExploreWorld(none, explorePolicies, () => 0);
  const { hv, guests, sim } = world.platform;
  hv.killDomain(guests[dies]!.id, "test");
  const io = hv.iommus.get(0x200)!;
  let at: { plain: bigint; swapped: bigint; owners: number[] } | undefined;
  sim.chooser = () => {
    if (at === undefined && io.iotsb.isValid(0)) {
      at = { plain: key(world, false), swapped: key(world, true), owners: [...io.entryOwner] };
      sim.stop();
    }
    return 0;
  };
  sim.run();
  return at!;
}

describe("the guest symmetry", () => {
  test("a world's swapped key is its mirror image's key: one guest dead, the other mapping", () => {
    const [a, b] = [mappedWithout(0), mappedWithout(1)];
    // The two differ (who owns the entries, the TTE's page, the sessions, the policy's ledger) ...
    expect(a.owners).not.toEqual(b.owners);
    expect(a.plain).not.toBe(b.plain);
    // ... and each, with the guests swapped, is the other.
    expect(a.swapped).toBe(b.plain);
    expect(b.swapped).toBe(a.plain);
  });

  test("a world whose guests are alike (at boot) is its own image", () => {
    const world = new ExploreWorld(none, explorePolicies, () => 0);
    expect(key(world, true)).toBe(key(world, false));
  });

  // Each: the same verdict, and the same end states up to the swap, in fewer states.
  for (const [what, extra] of [
    ["one guest death", { deaths: 1 }],
    ["one broker crash and restart", { restarts: 1 }],
    ["two lost packets", { losses: 2 }],
  ] as const)
    test(`with and without it, the same end states up to the swap: ${what}`, () => {
      const bounds = { ...none, ...extra };
      const run = (symmetry: boolean) =>
        explore({ bounds, policies: explorePolicies, prune: true, symmetry, maxStates: 100_000 });
      const [all, sym] = [run(false), run(true)];
      expect([all.complete, sym.complete]).toEqual([true, true]);
      expect(sym.counterexample).toEqual(all.counterexample);
      expect([...sym.endClasses].sort()).toEqual([...all.endClasses].sort());
      expect([...sym.endKeys].sort()).toEqual([...sym.endClasses].sort());
      expect(sym.states).toBeLessThan(all.states);
      expect(all.endKeys.size).toBeGreaterThan(all.endClasses.size);
    }, 120_000);

  test("a global policy with a field of unknown meaning cannot be swapped", () => {
    const world = new ExploreWorld(none, explorePolicies, () => 0);
    const p = world.platform.broker.policyOf(0x200) as unknown as { inner: object };
    (p.inner as Record<string, unknown>).lastDomain = 1;
    expect(() => key(world, true)).toThrow(/"lastDomain" is not known/);
  });
});
