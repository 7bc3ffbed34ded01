import { expect, test } from "bun:test";
import { type Proc, Simulator } from "../../../../core/model/sim/kernel.ts";
import { TimedSignal } from "../../../../core/model/sim/timed-signal.ts";

test("fireAt: a waiter resumes at the set time with the value, in one event; nothing runs between", () => {
  const sim = new Simulator();
  const sig = new TimedSignal<string>(sim);
  const log: string[] = [];
  function* waiter(name: string): Proc {
    const v: string = yield sig;
    log.push(`${name} ${v}@${sim.now}`);
  }
  sim.spawn(waiter("a"));
  sim.spawn(waiter("b"));
  sim.run(5);
  expect(sim.eventsProcessed).toBe(2);
  sig.fireAt(40, "x");
  expect(sig.triggered).toBe(false);
  expect(sig.dueAt).toBe(40);
  sim.run(39);
  expect(log).toEqual([]);
  expect(sig.triggered).toBe(false);
  sim.run();
  expect(log).toEqual(["a x@40", "b x@40"]);
  expect(sig.triggered).toBe(true);
  expect(sim.eventsProcessed).toBe(4); // two spawns, two resumes: no delivery event
});

test("fireAt: one who waits before the time waits until then; one who waits after goes on at once", () => {
  const sim = new Simulator();
  const sig = new TimedSignal(sim);
  const log: string[] = [];
  function* waiter(name: string, after: number): Proc {
    yield after;
    yield sig;
    log.push(`${name}@${sim.now}`);
  }
  sig.fireAt(30, undefined);
  sim.spawn(waiter("early", 10));
  sim.spawn(waiter("late", 50));
  sim.run();
  expect(log).toEqual(["early@30", "late@50"]);
  expect(sim.eventsProcessed).toBe(5); // 2 spawns, 2 delays, 1 resume at 30
});

test("fireAt: callbacks run at the time; a second trigger, a past time or a bad time throws", () => {
  const sim = new Simulator();
  const sig = new TimedSignal<number>(sim);
  const got: [number, number][] = [];
  sig.onTrigger((v) => got.push([sim.now, v]));
  sim.run(10);
  expect(() => sig.fireAt(5, 1)).toThrow(RangeError);
  expect(() => sig.fireAt(12.5, 1)).toThrow(RangeError);
  sig.fireAt(20, 7);
  sig.onTrigger((v) => got.push([sim.now, v + 1]));
  expect(() => sig.fireAt(30, 1)).toThrow("already triggered");
  expect(() => sig.trigger(1)).toThrow("already triggered");
  sim.run();
  expect(got).toEqual([
    [20, 7],
    [20, 8],
  ]);
});

test("a TimedSignal not set to a time is a plain Signal", () => {
  const sim = new Simulator();
  const sig = new TimedSignal<number>(sim);
  let got = -1;
  sim.spawn(
    (function* (): Proc {
      got = yield sig;
    })(),
  );
  sim.schedule(5, () => sig.trigger(3));
  sim.run();
  expect(got).toBe(3);
  expect(sig.dueAt).toBe(-1);
  expect(() => sig.fireAt(10, 1)).toThrow("already triggered");
});
