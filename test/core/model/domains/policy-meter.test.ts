// The policy meter's records, the replay's locks and prices, and the broker's per-window policies
// (errors reported by name, calls recorded for replay), read exactly.
import { describe, expect, test } from "bun:test";
import { PluginError } from "../../../../core/input/errors.ts";
import { isRefusal } from "../../../../core/model/domains/policy.ts";
import {
  CALL_UNIT,
  IMPLICIT_LOCK,
  METER_ACQUIRE,
  METER_RELEASE,
  METER_WORK,
  MeterLog,
} from "../../../../core/model/domains/policy-meter.ts";
import { PolicyReplay, unitPrice } from "../../../../core/model/domains/policy-replay.ts";
import { WindowPolicies } from "../../../../core/model/domains/window-policies.ts";
import { EventBus } from "../../../../core/model/events/bus.ts";
import { DomainCpu } from "../../../../core/model/machine/cpu.ts";
import { parseCostModel } from "../../../../core/model/machine/parse.ts";
import { type Proc, Simulator } from "../../../../core/model/sim/kernel.ts";
import { smallHv } from "../../../helpers/small-machine.ts";

const cost = parseCostModel({
  policyCallNs: 100,
  policyUnitNs: 3,
  policyNodeNs: 20,
  policyWordNs: 2,
  policyMagazineNs: 10,
});

describe("MeterLog", () => {
  test("declarations, records and totals", () => {
    const m = new MeterLog();
    expect([METER_ACQUIRE, METER_RELEASE, METER_WORK, IMPLICIT_LOCK, CALL_UNIT]).toEqual([
      1, 2, 3, -1, -1,
    ]);
    expect(m.lock("a")).toBe(0);
    expect(m.lock("b", "sleep")).toBe(1);
    expect(m.locks).toEqual([
      { name: "a", kind: "spin" },
      { name: "b", kind: "sleep" },
    ]);
    expect(m.unit("node")).toBe(0);
    expect(m.unit("word")).toBe(1);
    expect(m.unit("node")).toBe(0);
    expect(m.units).toEqual(["node", "word"]);
    m.acquire(1);
    m.work(0, 5);
    m.work(1, 0);
    m.work(1, -2);
    m.work(0, 2);
    m.release(1);
    expect(m.ops.slice(0, m.length)).toEqual([1, 1, 0, 3, 0, 5, 3, 0, 2, 2, 1, 0]);
    expect(m.totals).toEqual([7, 0]);
    m.closeCall(); // the call reported work: nothing added
    expect(m.length).toBe(12);
    m.closeCall(); // an empty call: one 'call' unit under the implicit lock
    expect(m.ops.slice(12, m.length)).toEqual([1, -1, 0, 3, -1, 1, 2, -1, 0]);
    m.clear();
    expect(m.length).toBe(0);
    m.closeCall();
    expect(m.ops.slice(0, m.length)).toEqual([1, -1, 0, 3, -1, 1, 2, -1, 0]);
    m.work(0, 1);
    m.closeCall();
    expect(m.length).toBe(12);
    expect(m.totals).toEqual([8, 0]);
  });

  test("each unit's price", () => {
    expect(
      ["call", "node", "word", "magazine", "bucket", ""].map((n) => unitPrice(cost, n)),
    ).toEqual([100, 20, 2, 10, 3, 3]);
  });
});

describe("isRefusal", () => {
  test("only an object with a reason is a refusal", () => {
    expect(isRefusal({ refused: "full" })).toBe(true);
    expect(isRefusal(3)).toBe(false);
    expect(isRefusal(null as never)).toBe(false);
    expect(isRefusal({} as never)).toBe(false);
  });
});

describe("PolicyReplay", () => {
  function setup(strands = 2) {
    const sim = new Simulator();
    const cpu = new DomainCpu(sim, strands);
    const meter = new MeterLog();
    const replay = new PolicyReplay(sim, meter, cost, "g/local");
    const done: number[] = [];
    function* caller(c: number, call: () => void): Proc<void> {
      const v = yield* cpu.take(c);
      call();
      replay.endCall();
      cpu.free(yield* replay.replay(cpu, v, c));
      done.push(sim.now);
    }
    return { sim, cpu, meter, replay, done, caller };
  }

  test("locks are named after the replay and the declaration; undeclared ids spin", () => {
    const s = setup();
    const a = s.meter.lock("tree", "sleep");
    s.sim.spawn(
      s.caller(0, () => {
        s.meter.acquire(a);
        s.meter.release(a);
        s.meter.acquire(7);
        s.meter.release(7);
      }),
    );
    s.sim.spawn(s.caller(1, () => {}));
    s.sim.run();
    const locks = s.replay.allLocks();
    expect(locks.map((l) => [l.name, l.kind])).toEqual([
      ["g/local:tree", "sleep"],
      ["g/local:7", "spin"],
      ["g/local:policy", "spin"],
    ]);
    expect(s.replay.name).toBe("g/local");
    expect(setup().replay.allLocks()).toEqual([]);
  });

  test("work is charged at its unit's price, each unit priced once; an unknown unit id is a call", () => {
    const s = setup();
    const node = s.meter.unit("node");
    const word = s.meter.unit("word");
    s.sim.spawn(
      s.caller(0, () => {
        s.meter.work(node, 2);
        s.meter.work(word, 3);
        s.meter.work(node, 1);
        s.meter.work(9, 1);
      }),
    );
    s.sim.run();
    expect(s.done).toEqual([3 * 20 + 3 * 2 + 100]);
    expect(s.cpu.vcpuBusyNs(0)).toBe(166);
  });

  test("a re-entrant acquire does not wait for itself; a release of a lock not held is ignored", () => {
    const s = setup();
    const a = s.meter.lock("a");
    const node = s.meter.unit("node");
    s.sim.spawn(
      s.caller(0, () => {
        s.meter.release(a);
        s.meter.acquire(a);
        s.meter.acquire(a);
        s.meter.work(node, 1);
        s.meter.release(a);
        s.meter.work(node, 1);
        s.meter.release(a);
      }),
    );
    s.sim.run(1e6);
    expect(s.done).toEqual([40]);
    const lock = s.replay.allLocks()[0]!;
    expect(lock.stats).toMatchObject({ acquisitions: 1, holdNs: 20 });
  });

  test("a lock still held when the call ends is released for the next caller", () => {
    const s = setup();
    const a = s.meter.lock("a");
    const b = s.meter.lock("b", "sleep");
    const node = s.meter.unit("node");
    const call = () => {
      s.meter.acquire(a);
      s.meter.acquire(b);
      s.meter.work(node, 5);
    };
    s.sim.spawn(s.caller(0, call));
    s.sim.spawn(s.caller(1, call));
    s.sim.run(1e6);
    expect(s.done).toEqual([100, 200]);
    expect(s.replay.allLocks().map((l) => l.stats.acquisitions)).toEqual([2, 2]);
  });

  test("under a spinlock a sleeping lock is waited for spinning: the vCPU stays busy", () => {
    const s = setup(2);
    const spin = s.meter.lock("spin", "spin");
    const sleep = s.meter.lock("sleep", "sleep");
    const node = s.meter.unit("node");
    // vCPU 1 holds the sleeping lock for 1000 ns; vCPU 0 waits for it inside its spinlock
    s.sim.spawn(
      s.caller(1, () => {
        s.meter.acquire(sleep);
        s.meter.work(node, 50);
        s.meter.release(sleep);
      }),
    );
    s.sim.spawn(
      s.caller(0, () => {
        s.meter.acquire(spin);
        s.meter.acquire(sleep);
        s.meter.work(node, 1);
        s.meter.release(sleep);
        s.meter.release(spin);
      }),
    );
    s.sim.run(1e6);
    expect(s.done).toEqual([1000, 1020]);
    expect(s.cpu.vcpuBusyNs(0)).toBe(1020);
    // without the spinlock the waiter sleeps: its vCPU is free while it waits
    const t = setup(2);
    const sl = t.meter.lock("sleep", "sleep");
    const nd = t.meter.unit("node");
    const hold = () => {
      t.meter.acquire(sl);
      t.meter.work(nd, 50);
      t.meter.release(sl);
    };
    t.sim.spawn(t.caller(1, hold));
    t.sim.spawn(t.caller(0, hold));
    t.sim.run(1e6);
    expect(t.done).toEqual([1000, 2000]);
    expect(t.cpu.vcpuBusyNs(0)).toBe(1000);
  });

  test("each unit keeps its own price whatever was priced before it", () => {
    const s = setup();
    s.meter.unit("node");
    const word = s.meter.unit("word");
    s.sim.spawn(s.caller(0, () => s.meter.work(word, 3)));
    s.sim.run();
    s.sim.spawn(s.caller(0, () => {}));
    s.sim.run();
    s.sim.spawn(s.caller(0, () => s.meter.work(word, 3)));
    s.sim.run();
    expect(s.done).toEqual([6, 106, 112]);
  });

  test("a shorter call after a longer one replays only its own records", () => {
    const s = setup();
    const a = s.meter.lock("a");
    const node = s.meter.unit("node");
    s.sim.spawn(
      s.caller(0, () => {
        s.meter.acquire(a);
        s.meter.work(node, 50);
        s.meter.release(a);
      }),
    );
    s.sim.run();
    s.sim.spawn(s.caller(0, () => s.meter.work(node, 1)));
    s.sim.run();
    expect(s.done).toEqual([1000, 1020]);
  });

  /** vCPU 1 holds sleeping lock `b` for 1,000 ns from 0; vCPU 0 runs `call` from 0. */
  function contended(call: (s: ReturnType<typeof setup>, b: number) => void) {
    const s = setup(2);
    const b = s.meter.lock("b", "sleep");
    const node = s.meter.unit("node");
    s.sim.spawn(
      s.caller(1, () => {
        s.meter.acquire(b);
        s.meter.work(node, 50);
        s.meter.release(b);
      }),
    );
    s.sim.spawn(s.caller(0, () => call(s, b)));
    s.sim.run(1e6);
    return s;
  }

  test("a sleeping lock is slept on once every spinlock taken before it is released", () => {
    const s = contended((t, b) => {
      const spin = t.meter.lock("s", "spin");
      t.meter.acquire(spin);
      t.meter.release(spin);
      t.meter.acquire(b);
      t.meter.release(b);
    });
    expect(s.cpu.vcpuBusyNs(0)).toBe(0);
    const t = contended((u, b) => {
      const other = u.meter.lock("a", "sleep");
      u.meter.acquire(other);
      u.meter.release(other);
      u.meter.acquire(b);
      u.meter.release(b);
    });
    expect(t.cpu.vcpuBusyNs(0)).toBe(0);
    const held = contended((u, b) => {
      const other = u.meter.lock("a", "sleep");
      u.meter.acquire(other);
      u.meter.acquire(b); // a sleeping lock held: still no spinning
      u.meter.release(b);
      u.meter.release(other);
    });
    expect(held.cpu.vcpuBusyNs(0)).toBe(0);
  });

  test("nothing recorded: the replay returns the vCPU at once", () => {
    const s = setup();
    const g = s.replay.replay(s.cpu, 1, 1);
    const r = g.next();
    expect([r.done, r.value]).toEqual([true, 1]);
  });
});

describe("WindowPolicies", () => {
  function setup(policy: () => object) {
    const hv = smallHv();
    const sim = new Simulator();
    const bus = new EventBus(() => sim.now);
    const errors: unknown[] = [];
    bus.on("plugin.error", (e) =>
      errors.push({ plugin: e.plugin, hook: e.hook, message: e.message }),
    );
    let counted = 0;
    const made: [number, number, readonly number[]][] = [];
    const w = new WindowPolicies(
      {
        sim,
        hv,
        cost,
        bus,
        policy: (dh, pages, guests, meter) => {
          made.push([dh, pages, guests]);
          return Object.assign(policy(), { meter }) as never;
        },
      },
      () => counted++,
    );
    return { w, hv, sim, errors, made, count: () => counted };
  }

  test("one policy per window, made with the window's pages and the guests", () => {
    const s = setup(() => ({ grant: () => 3 }));
    expect(s.w.get(0x200)).toBeUndefined();
    expect(s.w.call(0x200, "grant", () => 1)).toBeUndefined();
    s.w.make();
    expect(s.made).toEqual([[0x200, 64, [1, 2]]]);
    expect([...s.w.devhandles()]).toEqual([0x200]);
    expect(s.w.call(0x200, "grant", (p) => p.grant(1, 1, 1))).toBe(3);
    expect(s.w.call(0x300, "grant", (p) => p.grant(1, 1, 1))).toBeUndefined();
    expect(s.w.pending).toBe(true);
    s.w.clear();
    expect(s.w.get(0x200)).toBeUndefined();
  });

  test("without an event bus a throw is still counted, and its answer is none", () => {
    const hv = smallHv();
    let counted = 0;
    const w = new WindowPolicies(
      { sim: new Simulator(), hv, cost, policy: () => ({}) as never },
      () => counted++,
    );
    w.make();
    expect(
      w.call(0x200, "grant", () => {
        throw new Error("x");
      }),
    ).toBeUndefined();
    expect(counted).toBe(1);
  });

  test("a throw is counted and reported by name; its answer is none", () => {
    const s = setup(() => ({}));
    s.w.make();
    expect(
      s.w.call(0x200, "grant", () => {
        throw new Error("broken");
      }),
    ).toBeUndefined();
    expect(
      s.w.call(0x200, "revoke", () => {
        throw new PluginError("first-fit", "revoke", "bad range");
      }),
    ).toBeUndefined();
    expect(s.count()).toBe(2);
    expect(s.errors).toEqual([
      { plugin: "global-policy", hook: "grant", message: "[plugin global-policy] grant: broken" },
      { plugin: "first-fit", hook: "revoke", message: "[plugin first-fit] revoke: bad range" },
    ]);
  });

  test("calls are replayed on the control domain's vCPU, each charged, the locks named", () => {
    const s = setup(() => ({}));
    s.w.make();
    expect(s.w.pending).toBe(false);
    s.w.call(0x200, "grant", () => 0);
    s.w.call(0x200, "grant", () => 0);
    expect(s.w.pending).toBe(true);
    const cpu = new DomainCpu(s.sim, 1);
    let end = -1;
    s.sim.spawn(
      (function* () {
        const v = yield* cpu.take(0);
        cpu.free(yield* s.w.replay(cpu, v));
        end = s.sim.now;
      })(),
    );
    s.sim.run();
    expect(end).toBe(200);
    expect(s.w.pending).toBe(false);
    expect(s.w.locks().map((l) => l.name)).toEqual(["primary/global@0x200:policy"]);
  });
});
