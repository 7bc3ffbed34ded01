import { afterEach, describe, expect, test } from "bun:test";
import {
  DEFAULT_BOUNDS,
  type ExploreBounds,
  ExploreWorld,
  explore,
  runSchedule,
  ScheduleError,
  SeenStates,
} from "../../../../core/harness/explore/index.ts";
import { Actors, ANY, BROKER, offeredEvents } from "../../../../core/harness/explore/reduce.ts";
import { DvmaBroker } from "../../../../core/model/domains/broker.ts";
import { BrokerClient } from "../../../../core/model/domains/broker-client.ts";
import { Hypervisor } from "../../../../core/model/hv/hypervisor.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
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

  // A fault struck between events acts at the instant of the events it precedes: before, the clock
  // still read the last event's time, and the broker's settle thread a death starts ran earlier
  // than the event just run (`the clock went back from 27600 ns to 26800 ns`).
  test("no explored step runs the clock backwards: handshakes and one guest death", () => {
    const r = explore({
      bounds: { ...none, maps: 0, deaths: 1 },
      policies: explorePolicies,
      prune: true,
      maxStates: 100_000,
    });
    expect(r.counterexample?.violations ?? []).toEqual([]);
    expect(r.complete).toBe(true);
    expect(r.endStates).toBeGreaterThan(1);
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

  test("pruning keeps every end state: one loss, the same end states as every schedule run out", () => {
    // Unreduced: the reduction alone already cuts most of the schedules pruning would.
    const run = (prune: boolean) =>
      explore({ bounds, policies: explorePolicies, prune, reduce: false, maxStates: 100_000 });
    const bounds = { ...none, losses: 1 };
    const [pruned, all] = [run(true), run(false)];
    expect(pruned.schedules).toBeLessThan(all.schedules / 4);
    expect(pruned.endStates).toBe(all.endStates);
    expect([pruned.complete, all.complete]).toEqual([true, true]);
  }, 60_000);

  // The reduction (reduce.ts) only moves a fault past events it does not depend on: it must reach
  // every end state (and verdict) that offering every fault before every event reaches.
  for (const [what, extra] of [
    ["one guest death", { deaths: 1 }],
    // With resends: pruning once lost end states here (a process waiting on a signal was not in
    // the key), so the unreduced run is the reference only since every live process is.
    ["one broker crash and restart", { restarts: 1 }],
    // Fates drawn in both guests' sends from one budget, the guests' events not interleaved.
    ["two lost packets", { losses: 2 }],
  ] as const)
    test(`the reduction keeps every end state: ${what}`, () => {
      const bounds = { ...none, ...extra };
      const run = (reduce: boolean) =>
        explore({ bounds, policies: explorePolicies, prune: true, reduce, maxStates: 100_000 });
      const [all, reduced] = [run(false), run(true)];
      expect([all.complete, reduced.complete]).toEqual([true, true]);
      expect(reduced.counterexample).toEqual(all.counterexample);
      expect([...reduced.endKeys].sort()).toEqual([...all.endKeys].sort());
      expect(reduced.schedules).toBeLessThan(all.schedules);
    }, 120_000);

  // `faults` bounds the faults of every kind together: one loss or one death, never both.
  test("a total fault budget of 1 reaches exactly the end states of each kind alone", () => {
    const run = (extra: Partial<ExploreBounds>) =>
      explore({
        bounds: { ...none, ...extra },
        policies: explorePolicies,
        prune: true,
        maxStates: 100_000,
      });
    const loss = run({ losses: 1 });
    const death = run({ deaths: 1 });
    const either = run({ losses: 1, deaths: 1, faults: 1 });
    const both = run({ losses: 1, deaths: 1, faults: 2 });
    for (const r of [loss, death, either, both]) {
      expect(r.complete).toBe(true);
      expect(r.counterexample).toBeUndefined();
    }
    const union = new Set([...loss.endKeys, ...death.endKeys]);
    expect([...either.endKeys].sort()).toEqual([...union].sort());
    // A loss and a death together reach ends that neither alone does.
    expect([...both.endKeys].filter((k) => !union.has(k)).length).toBeGreaterThan(0);
  }, 120_000);

  test("once the total fault budget is spent, no fault or packet fate is offered", () => {
    const fates: number[] = [];
    const world = new ExploreWorld(
      { ...none, losses: 1, duplicates: 1, delays: 1, deaths: 1, restarts: 1, faults: 1 },
      explorePolicies,
      (n, what) => {
        if (what.startsWith("fate")) fates.push(n);
        return 0;
      },
    );
    const names = world.faultOptions().map((f) => f.name);
    expect(names).toEqual(["kill g1", "kill g2", "crash broker"]);
    world.faultOptions()[0]!.run(); // g1 dies: the one fault
    expect(world.faultOptions()).toEqual([]);
    world.platform.sim.run(); // g2 handshakes, maps and gives its lease back
    expect(world.workloads[1]!.finished).toBe(true);
    expect(fates).toEqual([]); // every packet delivered, none a choice
  });

  // Two broker processes serving different guests must not share a label in the state key: what
  // an event makes keeps the event's whole tag (`broker<g1`), not only whom it acts for.
  test("a process made while an arrival from g1 runs at the broker is tagged broker<g1", () => {
    const sim = new Simulator();
    const actors = new Actors(sim);
    actors.enter(`${BROKER}<g1`);
    const p = sim.spawn((function* () {})(), "serve");
    const cb = sim.wrap!(() => {});
    expect(actors.tagOf(p, null)).toBe(`${BROKER}<g1`);
    expect(actors.tagOf(null, cb)).toBe(`${BROKER}<g1`);
    expect(actors.of(p, null)).toBe(BROKER);
  });

  test("only when every event due acts for a guest, and two guests have some, is one guest's set offered", () => {
    expect(offeredEvents(["g1", "g2", "g1"])).toEqual([0, 2]);
    expect(offeredEvents(["g2", "g1"])).toEqual([0]);
    expect(offeredEvents(["g1", "g1"])).toBeNull(); // one guest: its events, in every order
    expect(offeredEvents(["g1", "g2", BROKER])).toBeNull(); // the broker touches both guests
    expect(offeredEvents(["g1", ANY, "g2"])).toBeNull();
    expect(offeredEvents([])).toBeNull();
  });

  test("a state seen with at least as much of every budget covers it; with more of one, not", () => {
    const seen = new SeenStates();
    expect(seen.visit(1n, [1, 0, 5])).toBe(false);
    expect(seen.visit(1n, [1, 0, 5])).toBe(true);
    expect(seen.visit(1n, [0, 0, 3])).toBe(true);
    expect(seen.visit(2n, [0, 0, 3])).toBe(false); // another state
    expect(seen.visit(1n, [0, 1, 0])).toBe(false); // one more of the second budget
    expect(seen.size).toBe(3);
    // A vector covering both stored ones replaces them.
    expect(seen.visit(1n, [1, 1, 5])).toBe(false);
    expect(seen.size).toBe(2);
    expect(seen.visit(1n, [0, 1, 4])).toBe(true);
  });

  test("a schedule replays to the same choices, events and end", () => {
    const first = runSchedule({ ...none, deaths: 1, losses: 1 }, explorePolicies, [1, 0, 1], null);
    const schedule = first.trail.map((p) => p.k);
    const again = runSchedule({ ...none, deaths: 1, losses: 1 }, explorePolicies, schedule, null);
    expect(again.trail).toEqual(first.trail);
    expect(again.events).toBe(first.events);
    expect(again.endKey).toBe(first.endKey);
  });

  // explore() replays each prefix from the choices of the schedule it was cut from (no offered
  // events or faults worked out again before the branch point): the same run as working them out.
  test("replaying a prefix from the last schedule's choices is the same run as working them out", () => {
    const bounds = { ...none, deaths: 1, restarts: 1 };
    let prefix: number[] = [];
    let last: ReturnType<typeof runSchedule> | null = null;
    let struck = 0;
    for (let s = 0; s < 150; s++) {
      const fast = runSchedule(bounds, explorePolicies, prefix, null, {
        carry: last === null ? {} : { last: last.choices },
      });
      const slow = runSchedule(bounds, explorePolicies, prefix, null);
      expect(fast.trail).toEqual(slow.trail);
      expect([fast.events, fast.endKey, fast.violations]).toEqual([
        slow.events,
        slow.endKey,
        slow.violations,
      ]);
      // The faults held back are the last world's (only their names are read).
      const plain = (r: typeof fast) =>
        r.choices.map((c) => ({ ...c, waiting: c.waiting.map((f) => f.name) }));
      expect(plain(fast)).toEqual(plain(slow));
      struck += fast.choices.filter((c) => c.fault !== "").length;
      let i = fast.trail.length - 1;
      while (i >= 0 && fast.trail[i]!.k + 1 >= fast.trail[i]!.n) i--;
      if (i < 0) break;
      prefix = [...fast.trail.slice(0, i).map((p) => p.k), fast.trail[i]!.k + 1];
      last = fast;
    }
    expect(struck).toBeGreaterThan(0);
  }, 120_000);

  test("a schedule that picks an option that is not there is refused", () => {
    expect(() => runSchedule(none, explorePolicies, [7], null)).toThrow(ScheduleError);
  });

  describe("finds a removed safety step", () => {
    const kill = Hypervisor.prototype.killDomain;
    const crash = DvmaBroker.prototype.crash;
    /** The broker without its reply journal: a crash loses every cached reply. */
    const crashForgetting = function (this: DvmaBroker) {
      crash.call(this);
      const sessions = (
        this as unknown as { sessions: Map<number, { replies: { clear(): void } }> }
      ).sessions;
      for (const s of sessions.values()) s.replies.clear();
    };
    // Private: the background resends of a request the guest gave up on.
    const client = BrokerClient.prototype as unknown as { chase: () => Generator };
    const chase = client.chase;
    afterEach(() => {
      Hypervisor.prototype.killDomain = kill;
      DvmaBroker.prototype.crash = crash;
      client.chase = chase;
    });

    test("a grant whose every reply was lost goes back (the given-up request is chased)", () => {
      const bounds = { ...none, losses: 2 };
      const all = { bounds, policies: explorePolicies, prune: true, maxStates: 100_000 };
      client.chase = function* () {};
      const bad = explore(all);
      expect(bad.counterexample?.violations.join("\n")).toMatch(
        /broker grants 4 pages, its leases hold 0/,
      );
      client.chase = chase;
      const replay = runSchedule(bounds, explorePolicies, bad.counterexample!.schedule, null);
      expect(replay.violations).toEqual([]);
      // Every schedule of these bounds: `bun run explore --losses 2` (too slow for this suite).
    }, 120_000);

    test("a broker crash that swallows a grant's reply strands no grant (the journal answers the resend)", () => {
      const bounds = { ...none, restarts: 1 };
      const all = { bounds, policies: explorePolicies, prune: true, maxStates: 100_000 };
      // Without the reply journal a crash loses every cached reply: the stranded grant is found.
      DvmaBroker.prototype.crash = crashForgetting;
      const bad = explore(all);
      expect(bad.counterexample?.violations.join("\n")).toMatch(
        /broker grants 4 pages, its leases hold 0/,
      );
      const schedule = bad.counterexample!.schedule;
      DvmaBroker.prototype.crash = crash;
      // The same schedule with the journal: the resend gets the grant back, and it goes back.
      const steps: string[] = [];
      const replay = runSchedule(bounds, explorePolicies, schedule, null, {
        onStep: (what) => steps.push(what),
      });
      expect(steps.some((what) => what.includes("crash broker"))).toBe(true);
      expect(replay.violations).toEqual([]);
      // Every schedule of these bounds: `bun run explore --restarts 1` (too slow for this suite).
    }, 120_000);

    test("a stale resend after a release and a broker restart strands no grant (the journal answers it)", () => {
      const bounds = { ...none, restarts: 1, stale: 1 };
      const all = { bounds, policies: explorePolicies, prune: true, maxStates: 100_000 };
      // Without the journal the resend of a request whose grant went back is granted afresh, the
      // same range, which the guest ignores as a duplicate of the answer it took: it stays held.
      DvmaBroker.prototype.crash = crashForgetting;
      const bad = explore(all);
      expect(bad.counterexample?.violations.join("\n")).toMatch(
        /g1: broker grants 4 pages, its leases hold 0/,
      );
      const schedule = bad.counterexample!.schedule;
      DvmaBroker.prototype.crash = crash;
      const steps: string[] = [];
      const replay = runSchedule(bounds, explorePolicies, schedule, null, {
        onStep: (what) => steps.push(what),
      });
      // The faults, in order: the stale resend is sent after the release, and the broker crashes
      // and restarts before it arrives (the reduction moves the crash up to that arrival).
      expect(steps.filter((what) => !what.includes(" run "))).toEqual([
        expect.stringContaining("stale resend g1 DVMA_REQ#2"),
        expect.stringContaining("crash broker"),
        expect.stringContaining("restart broker"),
      ]);
      expect(replay.violations).toEqual([]);
      // Every schedule of these bounds: `bun run explore` with --restarts 1 --stale 1, the other
      // faults 0 (too slow for this suite).
    }, 120_000);

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
