import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { MeterLog } from "../../../../core/model/domains/policy-meter.ts";
import { PolicyReplay } from "../../../../core/model/domains/policy-replay.ts";
import { DomainCpu } from "../../../../core/model/machine/cpu.ts";
import { parseCostModel } from "../../../../core/model/machine/parse.ts";
import { type Proc, Simulator } from "../../../../core/model/sim/kernel.ts";

const cost = parseCostModel({ policyCallNs: 100, policyNodeNs: 20 });

function setup(strands = 2) {
  const sim = new Simulator();
  const cpu = new DomainCpu(sim, strands);
  const meter = new MeterLog();
  const replay = new PolicyReplay(sim, meter, cost, "g/local");
  return { sim, cpu, meter, replay };
}

/** On vCPU `c`: make a call (`call` records into the meter), then replay it; returns when done. */
function* caller(
  s: ReturnType<typeof setup>,
  c: number,
  call: () => void,
  done: number[],
): Proc<void> {
  const v = yield* s.cpu.take(c);
  call();
  s.replay.endCall();
  s.cpu.free(yield* s.replay.replay(s.cpu, v, c));
  done.push(s.sim.now);
}

/** A call that takes lock `name` of `kind`, works 50 units (1000 ns) under it and releases it. */
function lockedWork(s: ReturnType<typeof setup>, name: string, kind: "spin" | "sleep") {
  const lock = s.meter.lock(name, kind);
  const node = s.meter.unit("node");
  return () => {
    s.meter.acquire(lock);
    s.meter.work(node, 50);
    s.meter.release(lock);
  };
}

describe("PolicyReplay", () => {
  test("a call that reports nothing costs one 'call' unit under the implicit lock", () => {
    const s = setup();
    const done: number[] = [];
    s.sim.spawn(caller(s, 0, () => {}, done));
    s.sim.run();
    // The spawn and one hold of the vCPU: the call's lock is booked, with no event of its own.
    expect(s.sim.eventsProcessed).toBe(2);
    expect(done).toEqual([100]);
    expect(s.cpu.vcpuBusyNs(0)).toBe(100);
    const [implicit] = s.replay.allLocks();
    expect(implicit!.stats).toMatchObject({ acquisitions: 1, holdNs: 100 });
    expect(s.meter.length).toBe(0);
  });

  test("reported work is priced per unit and held on the vCPU inside its lock", () => {
    const s = setup();
    const lock = s.meter.lock("pool", "spin");
    const node = s.meter.unit("node");
    const other = s.meter.unit("bucket"); // no price of its own: policyUnitNs
    const done: number[] = [];
    s.sim.spawn(
      caller(
        s,
        1,
        () => {
          s.meter.work(other, 4); // outside the lock
          s.meter.acquire(lock);
          s.meter.work(node, 10);
          s.meter.release(lock);
        },
        done,
      ),
    );
    s.sim.run();
    // Work before the lock: replayed section by section (the spawn and two holds).
    expect(s.sim.eventsProcessed).toBe(3);
    const outside = 4 * cost.policyUnitNs;
    expect(done).toEqual([outside + 200]);
    expect(s.cpu.vcpuBusyNs(1)).toBe(outside + 200);
    expect(s.replay.allLocks()[0]!.stats.holdNs).toBe(200);
  });

  test("two vCPUs on one spinlock: the second spins, burning its vCPU, and finishes later", () => {
    const s = setup();
    const call = lockedWork(s, "pool", "spin"); // 1000 ns under the lock
    const done: number[] = [];
    s.sim.spawn(caller(s, 0, call, done));
    s.sim.spawn(caller(s, 1, call, done));
    s.sim.run();
    // Two spawns and two holds: the second is booked behind the first, no wake-up event.
    expect(s.sim.eventsProcessed).toBe(4);
    expect(done).toEqual([1000, 2000]);
    expect(s.cpu.vcpuBusyNs(1)).toBe(2000); // 1000 spinning + 1000 working
    expect(s.replay.allLocks()[0]!.stats).toMatchObject({ contended: 1, waitNs: 1000 });
  });

  test("with one vCPU and a sleeping lock, callers run one after the other at full utilisation", () => {
    const s = setup(1);
    const call = lockedWork(s, "mutex", "sleep"); // 1000 ns under the lock
    const done: number[] = [];
    // One vCPU: the second caller cannot even start until the first frees it, so no wait shows.
    s.sim.spawn(caller(s, 0, call, done));
    s.sim.spawn(caller(s, 0, call, done));
    s.sim.run();
    expect(s.sim.eventsProcessed).toBe(5); // two spawns, two holds, one wake-up for the vCPU
    expect(done).toEqual([1000, 2000]);
    expect(s.cpu.utilisation(2000)).toBe(1);
  });

  test("a call that returns holding its lock has it released; a stray release is ignored", () => {
    const s = setup();
    const lock = s.meter.lock("pool");
    const done: number[] = [];
    s.sim.spawn(caller(s, 0, () => s.meter.acquire(lock), done));
    s.sim.spawn(caller(s, 1, () => s.meter.release(lock), done));
    s.sim.run();
    expect(s.sim.eventsProcessed).toBe(2); // two spawns; no work, no hold
    expect(s.replay.allLocks()[0]!.locked).toBe(false);
    expect(done).toEqual([0, 0]);
  });

  test("calls made while another replay waits are replayed by their own caller", () => {
    const s = setup();
    const lock = s.meter.lock("pool", "spin");
    const node = s.meter.unit("node");
    const done: number[] = [];
    s.sim.spawn(
      caller(
        s,
        0,
        () => {
          s.meter.work(node, 10);
          s.meter.acquire(lock);
          s.meter.work(node, 10);
          s.meter.release(lock);
        },
        done,
      ),
    );
    // At 100 (mid-replay of the first) a second call records 5 units and replays them itself.
    s.sim.at(100, () => s.sim.spawn(caller(s, 1, () => s.meter.work(node, 5), done)));
    s.sim.run();
    expect(s.sim.eventsProcessed).toBe(6);
    expect(done).toEqual([200, 400]);
    expect(s.cpu.vcpuBusyNs(0)).toBe(400);
    expect(s.cpu.vcpuBusyNs(1)).toBe(100);
  });
});

describe("kernel events", () => {
  // Work of 0 ns is not yielded: a `yield 0` would cost a kernel event (the figure events per
  // frame counts) and let other processes of the same instant run in between.
  test("a lock taken with no work before it, or released with none after, costs no event", () => {
    const s = setup();
    const lock = s.meter.lock("pool", "spin");
    const node = s.meter.unit("node");
    const done: number[] = [];
    s.sim.spawn(
      caller(
        s,
        0,
        () => {
          s.meter.acquire(lock); // nothing pending before it
          s.meter.work(node, 5);
          s.meter.release(lock); // nothing pending after it
        },
        done,
      ),
    );
    s.sim.run();
    expect(done).toEqual([100]);
    // The spawn's first step and the 100 ns of work: two events, no more.
    expect(s.sim.eventsProcessed).toBe(2);
  });
});

describe("booked holds", () => {
  test("a lock acquired again inside its own hold is booked once, behind the holder, with no wake-up", () => {
    const s = setup();
    const lock = s.meter.lock("pool", "spin");
    const node = s.meter.unit("node");
    const call = (twice: boolean) => () => {
      s.meter.acquire(lock);
      if (twice) s.meter.acquire(lock);
      s.meter.work(node, 50); // 1000 ns
      s.meter.release(lock);
    };
    const done: number[] = [];
    s.sim.spawn(caller(s, 0, call(false), done));
    s.sim.spawn(caller(s, 1, call(true), done));
    s.sim.run();
    expect(done).toEqual([1000, 2000]);
    expect(s.sim.eventsProcessed).toBe(4);
    expect(s.replay.allLocks()[0]!.stats).toMatchObject({ acquisitions: 2, holdNs: 2000 });
  });

  test("a sleeper that would wait is not booked: it gives its vCPU up until the lock is handed on", () => {
    const s = setup();
    const call = lockedWork(s, "mutex", "sleep"); // 1000 ns under the lock
    const done: number[] = [];
    s.sim.spawn(caller(s, 0, call, done));
    s.sim.spawn(caller(s, 1, call, done));
    s.sim.run();
    expect(done).toEqual([1000, 2000]);
    expect(s.cpu.vcpuBusyNs(1)).toBe(1000); // asleep while it waited
    expect(s.replay.allLocks()[0]!.stats).toMatchObject({ contended: 1, waitNs: 1000 });
  });

  test("work after a release is not held under the lock: the next caller's hold starts at the release", () => {
    const s = setup();
    const lock = s.meter.lock("pool", "spin");
    const node = s.meter.unit("node");
    const call = () => {
      s.meter.acquire(lock);
      s.meter.work(node, 10); // 200 ns under the lock
      s.meter.release(lock);
      s.meter.work(node, 10); // 200 ns after it
    };
    const done: number[] = [];
    s.sim.spawn(caller(s, 0, call, done));
    s.sim.spawn(caller(s, 1, call, done));
    s.sim.run();
    expect(done).toEqual([400, 600]);
    expect(s.replay.allLocks()[0]!.stats).toMatchObject({ holdNs: 400, waitNs: 200 });
    expect(s.sim.eventsProcessed).toBe(4);
  });

  test("a sleeper that holds a spinlock spins for the sleeping lock, booked with no wake-up", () => {
    const s = setup();
    const spin = s.meter.lock("spin", "spin");
    const mutex = s.meter.lock("mutex", "sleep");
    const node = s.meter.unit("node");
    const done: number[] = [];
    s.sim.spawn(
      caller(
        s,
        0,
        () => {
          s.meter.acquire(mutex);
          s.meter.work(node, 50); // 1000 ns
          s.meter.release(mutex);
        },
        done,
      ),
    );
    s.sim.spawn(
      caller(
        s,
        1,
        () => {
          s.meter.acquire(spin);
          s.meter.acquire(mutex); // waits 1000 ns, spinning: it holds `spin`
          s.meter.work(node, 50);
          s.meter.release(mutex);
          s.meter.release(spin);
        },
        done,
      ),
    );
    s.sim.run();
    expect(done).toEqual([1000, 2000]);
    expect(s.cpu.vcpuBusyNs(1)).toBe(2000);
    expect(s.sim.eventsProcessed).toBe(4);
  });
});

describe("replayed event by event (work before the lock, or the lock held by a replay)", () => {
  /** A call that works `before` node units, then runs `inner` (which records the rest). */
  const after = (s: ReturnType<typeof setup>, before: number, inner: () => void) => {
    const node = s.meter.unit("node");
    return () => {
      s.meter.work(node, before);
      inner();
    };
  };

  test("a lock held by a replay in progress is waited for, not booked over it", () => {
    const s = setup();
    const call = lockedWork(s, "pool", "spin"); // 1000 ns under the lock
    const done: number[] = [];
    // vCPU 0 holds the lock from 200 to 1200, event by event (200 ns of work before it).
    s.sim.spawn(caller(s, 0, after(s, 10, call), done));
    // vCPU 1 asks at 300: it spins until 1200, then works 1000 ns under the lock.
    s.sim.at(300, () => s.sim.spawn(caller(s, 1, call, done)));
    s.sim.run();
    expect(done).toEqual([1200, 2200]);
    expect(s.cpu.vcpuBusyNs(1)).toBe(1900);
    expect(s.replay.allLocks()[0]!.stats).toMatchObject({
      acquisitions: 2,
      contended: 1,
      holdNs: 2000,
      waitNs: 900,
    });
  });

  test("a lock acquired again inside its own hold does not wait for itself", () => {
    const s = setup();
    const lock = s.meter.lock("pool", "spin");
    const node = s.meter.unit("node");
    const done: number[] = [];
    const call = () => {
      s.meter.acquire(lock);
      s.meter.acquire(lock);
      s.meter.work(node, 50);
      s.meter.release(lock);
    };
    s.sim.spawn(caller(s, 0, after(s, 10, call), done));
    s.sim.run();
    expect(done).toEqual([1200]);
    expect(s.replay.allLocks()[0]!.locked).toBe(false);
  });

  test("a call that returns holding its lock has it released; a stray release is ignored", () => {
    const s = setup();
    const lock = s.meter.lock("pool");
    const other = s.meter.lock("other");
    const done: number[] = [];
    s.sim.spawn(
      caller(
        s,
        0,
        after(s, 5, () => s.meter.acquire(lock)),
        done,
      ),
    );
    // Taking `other` after work puts this call on the event-by-event path too.
    s.sim.spawn(
      caller(
        s,
        1,
        after(s, 5, () => {
          s.meter.acquire(other);
          s.meter.release(lock);
          s.meter.release(other);
        }),
        done,
      ),
    );
    s.sim.run();
    expect(done).toEqual([100, 100]);
    const [pool, o] = s.replay.allLocks();
    expect([pool!.locked, o!.locked]).toEqual([false, false]);
    expect(pool!.stats).toMatchObject({ acquisitions: 1, holdNs: 0 });
  });

  test("a sleeper that holds a spinlock spins for the sleeping lock, keeping its vCPU", () => {
    const s = setup();
    const spin = s.meter.lock("spin", "spin");
    const mutex = s.meter.lock("mutex", "sleep");
    const node = s.meter.unit("node");
    const done: number[] = [];
    // vCPU 0 holds the mutex from 100 to 1100.
    s.sim.spawn(
      caller(
        s,
        0,
        after(s, 5, () => {
          s.meter.acquire(mutex);
          s.meter.work(node, 50);
          s.meter.release(mutex);
        }),
        done,
      ),
    );
    // vCPU 1 takes the spinlock at 200, then waits for the mutex until 1100 holding it.
    s.sim.spawn(
      caller(
        s,
        1,
        after(s, 10, () => {
          s.meter.acquire(spin);
          s.meter.acquire(mutex);
          s.meter.work(node, 50);
          s.meter.release(mutex);
          s.meter.release(spin);
        }),
        done,
      ),
    );
    s.sim.run();
    expect(done).toEqual([1100, 2100]);
    expect(s.cpu.vcpuBusyNs(1)).toBe(2100); // 900 of it spinning
  });

  test("a replay charges its own call's records, not what a longer earlier replay left behind", () => {
    const s = setup(1);
    const lock = s.meter.lock("pool", "spin");
    const node = s.meter.unit("node");
    const done: number[] = [];
    // Five records, then three: the second replay reuses the first's record buffer.
    s.sim.spawn(
      caller(
        s,
        0,
        after(s, 10, () => {
          s.meter.acquire(lock);
          s.meter.release(lock);
          s.meter.work(node, 10);
          s.meter.work(node, 10);
        }),
        done,
      ),
    );
    s.sim.run();
    s.sim.spawn(
      caller(
        s,
        0,
        after(s, 5, () => {
          s.meter.acquire(lock);
          s.meter.release(lock);
        }),
        done,
      ),
    );
    s.sim.run();
    expect(done).toEqual([600, 700]);
    expect(s.cpu.vcpuBusyNs(0)).toBe(700);
  });

  test("a lock operation with no work pending before it costs no event", () => {
    const s = setup();
    const a = s.meter.lock("a", "spin");
    const b = s.meter.lock("b", "spin");
    const node = s.meter.unit("node");
    const done: number[] = [];
    s.sim.spawn(
      caller(
        s,
        0,
        after(s, 5, () => {
          s.meter.acquire(a);
          s.meter.acquire(b); // nothing pending before it
          s.meter.work(node, 5);
          s.meter.release(b);
          s.meter.release(a); // nothing pending before it
        }),
        done,
      ),
    );
    s.sim.run();
    expect(done).toEqual([200]);
    // The spawn's first step and the two 100 ns stretches of work.
    expect(s.sim.eventsProcessed).toBe(3);
  });
});

describe("booked holds that end at time 0", () => {
  test("a hold ended at 0 stays ended: neither work after it nor a stray release extends it", () => {
    const s = setup();
    const lock = s.meter.lock("pool", "spin");
    const node = s.meter.unit("node");
    const done: number[] = [];
    s.sim.spawn(
      caller(
        s,
        0,
        () => {
          s.meter.acquire(lock);
          s.meter.release(lock); // a hold of 0 ns at time 0
          s.meter.work(node, 50);
          s.meter.release(lock); // stray: the lock is no longer held
        },
        done,
      ),
    );
    s.sim.spawn(
      caller(
        s,
        1,
        () => {
          s.meter.acquire(lock);
          s.meter.work(node, 50);
          s.meter.release(lock);
        },
        done,
      ),
    );
    s.sim.run();
    // vCPU 1's hold starts at 0, not behind 1000 ns of work done outside the lock.
    expect(done).toEqual([1000, 1000]);
    expect(s.replay.allLocks()[0]!.stats).toMatchObject({ contended: 0, holdNs: 1000 });
  });
});

describe("booking is only a shortcut", () => {
  /** Each call: when it starts (ns), its vCPU, and its records: [0 acquire | 1 release, lock] or [2, units of work]. */
  type Call = { at: number; cpu: number; ops: [number, number][] };

  /** Runs `calls` with holds booked where possible, or (`booked` false) every call event by event. */
  function outcome(calls: Call[], booked: boolean) {
    const s = setup();
    if (!booked) Object.defineProperty(s.replay, "charge", { value: () => -1 });
    const locks = [
      s.meter.lock("a", "spin"),
      s.meter.lock("b", "sleep"),
      s.meter.lock("c", "spin"),
    ];
    const node = s.meter.unit("node");
    const done: string[] = [];
    calls.forEach((c, i) => {
      const record = () => {
        for (const [op, x] of c.ops)
          if (op === 0) s.meter.acquire(locks[x]!);
          else if (op === 1) s.meter.release(locks[x]!);
          else s.meter.work(node, x);
      };
      const finished: number[] = [];
      s.sim.at(c.at, () => {
        const p = s.sim.spawn(caller(s, c.cpu, record, finished));
        p.done.onTrigger(() => done.push(`${i}@${finished[0]}`));
      });
    });
    s.sim.run();
    const figures = s.replay
      .allLocks()
      .map((l) => ({ name: l.name, ...l.stats, locked: l.locked }));
    return { done, busy: [s.cpu.vcpuBusyNs(0), s.cpu.vcpuBusyNs(1)], figures };
  }

  test("for any calls, booked holds give the same finish times, vCPU time and lock figures as holds replayed event by event", () => {
    const op = fc.oneof(
      fc.tuple(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 2 })),
      fc.tuple(fc.constant(2), fc.integer({ min: 1, max: 20 })),
    );
    const call = fc.record({
      at: fc.constantFrom(0, 100, 200, 400),
      cpu: fc.integer({ min: 0, max: 1 }),
      ops: fc.array(op, { minLength: 0, maxLength: 7 }),
    });
    fc.assert(
      fc.property(fc.array(call, { minLength: 1, maxLength: 4 }), (calls) => {
        expect(outcome(calls, true)).toEqual(outcome(calls, false));
      }),
      { numRuns: 500 },
    );
  });
});
