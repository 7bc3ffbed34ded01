import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type Proc, type Signal, Simulator } from "../../../../core/model/sim/index.ts";

describe("Simulator callbacks", () => {
  test("runs events in time order, FIFO among equal times, and advances now", () => {
    const sim = new Simulator();
    const log: string[] = [];
    sim.schedule(10, () => log.push(`a@${sim.now}`));
    sim.schedule(5, () => log.push(`b@${sim.now}`));
    sim.schedule(10, () => log.push(`c@${sim.now}`));
    sim.at(7, () => log.push(`d@${sim.now}`));
    sim.schedule(0, () => log.push(`e@${sim.now}`));
    expect(sim.pending).toBe(5);
    sim.run();
    expect(log).toEqual(["e@0", "b@5", "d@7", "a@10", "c@10"]);
    expect(sim.now).toBe(10);
    expect(sim.eventsProcessed).toBe(5);
    expect(sim.pending).toBe(0);
  });

  test("random schedules pop in (time, insertion) order and cancelled events never run", () => {
    const step = fc.record({
      delay: fc.integer({ min: 0, max: 50 }),
      cancel: fc.boolean(),
      nested: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
        const sim = new Simulator();
        const ran: { id: number; time: number }[] = [];
        const expected: { id: number; time: number; seq: number }[] = [];
        let seq = 0;
        let nextId = 0;
        const add = (delay: number, nested: number | undefined): number => {
          const id = nextId++;
          const time = sim.now + delay;
          const mySeq = seq++;
          const token = sim.schedule(delay, () => {
            ran.push({ id, time: sim.now });
            // A nested schedule at run time gets a later sequence number than everything before it.
            if (nested !== undefined) add(nested, undefined);
          });
          expected.push({ id, time, seq: mySeq });
          return token;
        };
        const cancelled = new Set<number>();
        steps.forEach((s, i) => {
          const token = add(s.delay, s.nested);
          if (s.cancel) {
            expect(sim.cancel(token)).toBe(true);
            expect(sim.cancel(token)).toBe(false); // second cancel is a no-op
            cancelled.add(i);
          }
        });
        expect(sim.pending).toBe(steps.length - cancelled.size);
        sim.run();
        for (const r of ran) expect(cancelled.has(r.id)).toBe(false);
        const order = expected
          .filter((e) => !cancelled.has(e.id))
          .sort((a, b) => a.time - b.time || a.seq - b.seq)
          .map((e) => e.id);
        expect(ran.map((r) => r.id)).toEqual(order);
        for (const r of ran) expect(r.time).toBe(expected.find((e) => e.id === r.id)!.time);
        expect(sim.pending).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  test("cancel: false after the event ran, and a stale token never hits a reused slot", () => {
    const sim = new Simulator();
    let ran = 0;
    const t1 = sim.schedule(1, () => ran++);
    sim.run();
    expect(ran).toBe(1);
    expect(sim.cancel(t1)).toBe(false);
    // The freed slot is reused by the next event; the old token must not cancel it.
    const t2 = sim.schedule(1, () => ran++);
    expect(t2).not.toBe(t1);
    expect(sim.cancel(t1)).toBe(false);
    sim.run();
    expect(ran).toBe(2);
    expect(sim.cancel(-1)).toBe(false);
    expect(sim.cancel(1.5)).toBe(false);
    expect(sim.cancel(Number.NaN)).toBe(false);
    expect(sim.cancel(123456789)).toBe(false);
  });

  test("an event can cancel a later one at the same time", () => {
    const sim = new Simulator();
    const log: string[] = [];
    let later = 0;
    sim.schedule(5, () => {
      log.push("first");
      expect(sim.cancel(later)).toBe(true);
    });
    later = sim.schedule(5, () => log.push("second"));
    sim.run();
    expect(log).toEqual(["first"]);
    expect(sim.eventsProcessed).toBe(1);
  });

  test("mass cancellation compacts tombstones without changing the order of survivors", () => {
    const sim = new Simulator();
    const tokens: number[] = [];
    const ran: number[] = [];
    for (let i = 0; i < 20_000; i++) tokens.push(sim.schedule(20_000 - i, () => ran.push(i)));
    for (let i = 0; i < 20_000; i++) if (i % 10 !== 0) sim.cancel(tokens[i]);
    expect(sim.pending).toBe(2_000);
    // Tombstones were compacted away: the heap holds far fewer than the 20,000 scheduled entries.
    expect((sim as unknown as { heap: { size: number } }).heap.size).toBeLessThan(10_000);
    sim.run();
    const want = [...Array(2_000).keys()].map((k) => (1_999 - k) * 10);
    expect(ran).toEqual(want);
    expect(sim.now).toBe(20_000); // event 0 was the latest
    expect(sim.pending).toBe(0);
  });

  test("rejects non-integer, negative, NaN and infinite times with RangeError", () => {
    const sim = new Simulator();
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => sim.schedule(bad, () => {})).toThrow(RangeError);
      expect(() => sim.at(bad, () => {})).toThrow(RangeError);
    }
    expect(() => sim.schedule(-1, () => {})).toThrow(/non-negative safe integer/);
    sim.schedule(10, () => {});
    sim.run();
    expect(() => sim.at(9, () => {})).toThrow(/in the past/);
    expect(() => sim.run(5)).toThrow(RangeError);
    expect(() => sim.run(12.5)).toThrow(RangeError);
    expect(sim.pending).toBe(0);
  });

  test("run(until) runs events at until, keeps later ones, sets now = until", () => {
    const sim = new Simulator();
    const log: number[] = [];
    for (const t of [5, 10, 11, 30]) sim.at(t, () => log.push(sim.now));
    sim.run(10);
    expect(log).toEqual([5, 10]);
    expect(sim.now).toBe(10);
    expect(sim.pending).toBe(2);
    sim.run(20);
    expect(log).toEqual([5, 10, 11]);
    expect(sim.now).toBe(20); // clock moves to until even with no event there
    sim.schedule(0, () => log.push(sim.now)); // scheduled relative to now = 20
    sim.run();
    expect(log).toEqual([5, 10, 11, 20, 30]);
    expect(sim.now).toBe(30);
    sim.run(100); // empty queue: the clock still moves
    expect(sim.now).toBe(100);
  });

  test("stop() returns after the current event; run() resumes later", () => {
    const sim = new Simulator();
    const log: number[] = [];
    for (let t = 1; t <= 5; t++) {
      sim.at(t, () => {
        log.push(t);
        if (t === 2) sim.stop();
      });
    }
    sim.run(100);
    expect(log).toEqual([1, 2]);
    expect(sim.now).toBe(2); // stopped: the clock does not jump to until
    sim.run();
    expect(log).toEqual([1, 2, 3, 4, 5]);
  });

  test("run() from inside an event throws", () => {
    const sim = new Simulator();
    sim.schedule(1, () => sim.run());
    expect(() => sim.run()).toThrow(/inside an event/);
  });

  test("an exception in a callback propagates and leaves the simulator usable", () => {
    const sim = new Simulator();
    const log: number[] = [];
    sim.schedule(1, () => {
      throw new Error("boom");
    });
    sim.schedule(2, () => log.push(sim.now));
    expect(() => sim.run()).toThrow("boom");
    expect(sim.pending).toBe(1);
    sim.run();
    expect(log).toEqual([2]);
  });
});

describe("Simulator processes", () => {
  test("a process yields delays; spawn is not inline; done carries the return value", () => {
    const sim = new Simulator();
    const log: string[] = [];
    function* worker(): Proc<number> {
      log.push(`start@${sim.now}`);
      yield 10;
      log.push(`mid@${sim.now}`);
      yield 0;
      log.push(`zero@${sim.now}`);
      yield 5;
      return 42;
    }
    const p = sim.spawn(worker(), "worker");
    log.push("spawned");
    expect(p.name).toBe("worker");
    expect(p.finished).toBe(false);
    sim.run();
    expect(log).toEqual(["spawned", "start@0", "mid@10", "zero@10"]);
    expect(p.finished).toBe(true);
    expect(p.done.triggered).toBe(true);
    expect(p.done.value).toBe(42);
    expect(sim.now).toBe(15);
  });

  test("spawn with a delay: the first step runs that much later, as one event; bad delays throw", () => {
    const sim = new Simulator();
    const log: string[] = [];
    function* worker(name: string): Proc {
      log.push(`${name}@${sim.now}`);
      yield 3;
      log.push(`${name} done@${sim.now}`);
    }
    sim.spawn(worker("later"), "later", 25);
    sim.spawn(worker("now"), "now");
    sim.run();
    expect(log).toEqual(["now@0", "now done@3", "later@25", "later done@28"]);
    expect(sim.eventsProcessed).toBe(4);
    for (const bad of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => sim.spawn(worker("bad"), "bad", bad)).toThrow(RangeError);
  });

  test("a process joins another by yielding its done signal and receives the value", () => {
    const sim = new Simulator();
    function* child(): Proc<string> {
      yield 7;
      return "result";
    }
    let got: string | undefined;
    let at = -1;
    function* parent(): Proc {
      const c = sim.spawn(child(), "child");
      got = yield c.done;
      at = sim.now;
      // Yielding an already-triggered signal resumes at once, at the same time.
      const again = yield c.done;
      expect(again).toBe("result");
      expect(sim.now).toBe(7);
    }
    const p = sim.spawn(parent(), "parent");
    sim.run();
    expect(got).toBe("result");
    expect(at).toBe(7);
    expect(p.finished).toBe(true);
  });

  test("default names are distinct", () => {
    const sim = new Simulator();
    function* nop(): Proc {}
    const a = sim.spawn(nop());
    const b = sim.spawn(nop());
    expect(a.name).not.toBe(b.name);
    sim.run();
    expect(a.finished && b.finished).toBe(true);
  });

  test("an exception inside a process propagates with its name and the cause", () => {
    const sim = new Simulator();
    const inner = new Error("disk on fire");
    function* bad(): Proc {
      yield 3;
      throw inner;
    }
    const p = sim.spawn(bad(), "nvme-queue-0");
    let caught: unknown;
    try {
      sim.run();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).message).toContain("nvme-queue-0");
    expect((caught as Error).message).toContain("disk on fire");
    expect((caught as Error).cause).toBe(inner);
    expect(p.finished).toBe(true);
    expect(sim.now).toBe(3);
  });

  test("yielding a bad value throws an error naming the process", () => {
    for (const [bad, kind] of [
      [-5, RangeError],
      [2.5, RangeError],
      [Number.NaN, RangeError],
      [Number.POSITIVE_INFINITY, RangeError],
      ["soon", TypeError],
      [{}, TypeError],
      [null, TypeError],
    ] as const) {
      const sim = new Simulator();
      function* proc(): Generator<unknown, void, unknown> {
        yield bad;
      }
      sim.spawn(proc() as Proc, "naughty");
      expect(() => sim.run()).toThrow(kind);
      expect(() => {
        const s2 = new Simulator();
        s2.spawn(proc() as Proc, "naughty");
        s2.run();
      }).toThrow(/naughty/);
    }
  });

  test("spawn rejects a generator function (not called)", () => {
    const sim = new Simulator();
    function* g(): Proc {}
    expect(() => sim.spawn(g as unknown as Proc)).toThrow(TypeError);
  });

  test("finished processes free their ids: many short processes do not leak", () => {
    const sim = new Simulator();
    let done = 0;
    function* shortLived(): Proc {
      yield 1;
      done++;
    }
    function* spawner(): Proc {
      for (let i = 0; i < 10_000; i++) {
        sim.spawn(shortLived(), `s${i}`);
        yield 2;
      }
    }
    sim.spawn(spawner(), "spawner");
    sim.run();
    expect(done).toBe(10_000);
    // At most two processes are alive at once, so at most two process-table entries exist.
    expect((sim as unknown as { procs: unknown[] }).procs.length).toBeLessThanOrEqual(3);
  });

  test("same program, same event order (determinism)", () => {
    const trace = (): string => {
      const sim = new Simulator();
      const out: string[] = [];
      const gate = sim.signal<number>();
      for (let i = 0; i < 20; i++) {
        sim.spawn(
          (function* (): Proc {
            const v = yield gate;
            for (let k = 0; k < 5; k++) {
              yield ((i * 7 + k * 3) % 4) + v;
              out.push(`${i}:${k}@${sim.now}`);
            }
          })(),
          `p${i}`,
        );
      }
      sim.schedule(3, () => gate.trigger(1));
      sim.run();
      return out.join(",");
    };
    const a = trace();
    expect(a.length).toBeGreaterThan(0);
    expect(trace()).toBe(a);
  });
});

describe("Signal", () => {
  test("waiters resume in FIFO order at the trigger time, scheduled not inline", () => {
    const sim = new Simulator();
    const sig = sim.signal<string>();
    const log: string[] = [];
    for (const name of ["a", "b", "c"]) {
      sim.spawn(
        (function* (): Proc {
          const v: string = yield sig;
          log.push(`${name}:${v}@${sim.now}`);
        })(),
        name,
      );
    }
    sim.schedule(4, () => {
      sig.trigger("go");
      log.push("after-trigger");
    });
    sim.run();
    expect(log).toEqual(["after-trigger", "a:go@4", "b:go@4", "c:go@4"]);
    expect(sig.triggered).toBe(true);
    expect(sig.value).toBe("go");
  });

  test("trigger twice throws; value is undefined before trigger", () => {
    const sim = new Simulator();
    const sig: Signal<number> = sim.signal<number>();
    expect(sig.triggered).toBe(false);
    expect(sig.value).toBeUndefined();
    sig.trigger(1);
    expect(() => sig.trigger(2)).toThrow(/already triggered/);
    expect(sig.value).toBe(1);
  });

  test("onTrigger callbacks run as events in FIFO order, also when already triggered", () => {
    const sim = new Simulator();
    const sig = sim.signal<number>();
    const log: string[] = [];
    sig.onTrigger((v) => log.push(`x${v}@${sim.now}`));
    sig.onTrigger((v) => log.push(`y${v}@${sim.now}`));
    sim.schedule(2, () => {
      sig.trigger(9);
      sig.onTrigger((v) => log.push(`z${v}@${sim.now}`));
      log.push("inline");
    });
    sim.run();
    expect(log).toEqual(["inline", "x9@2", "y9@2", "z9@2"]);
  });

  test("a void signal triggers without an argument", () => {
    const sim = new Simulator();
    const sig = sim.signal();
    let woke = false;
    sim.spawn(
      (function* (): Proc {
        yield sig;
        woke = true;
      })(),
    );
    sim.schedule(1, () => sig.trigger());
    sim.run();
    expect(woke).toBe(true);
  });
});

describe("Simulator isolation", () => {
  test("yielding another simulator's signal throws, naming the process", () => {
    const a = new Simulator();
    const b = new Simulator();
    const foreign = b.signal();
    a.spawn(
      (function* (): Proc {
        yield foreign;
      })(),
      "confused",
    );
    expect(() => a.run()).toThrow(/confused.*another Simulator/);
  });
});
