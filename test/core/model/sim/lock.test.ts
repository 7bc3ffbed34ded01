import { describe, expect, test } from "bun:test";
import { type Proc, Simulator } from "../../../../core/index.ts";
import { Lock } from "../../../../core/model/sim/lock.ts";

/** A process that takes `lock`, holds it `holdNs`, releases it; records when it got it. */
function* holder(sim: Simulator, lock: Lock, holdNs: number, got: number[]): Proc<void> {
  if (!lock.tryAcquire()) yield lock.wait();
  got.push(sim.now);
  yield holdNs;
  lock.release();
}

describe("Lock", () => {
  test("an uncontended acquire takes it at once, with no event", () => {
    const sim = new Simulator();
    const lock = new Lock(sim, "l");
    expect(lock.tryAcquire()).toBe(true);
    expect(lock.locked).toBe(true);
    expect(sim.pending).toBe(0);
    expect(lock.tryAcquire()).toBe(false);
    lock.release();
    expect(lock.locked).toBe(false);
    expect(lock.stats).toMatchObject({ acquisitions: 1, contended: 0, waitNs: 0 });
  });

  test("waiters get it in arrival order, handed over without a gap; hold and wait times add up", () => {
    const sim = new Simulator();
    const lock = new Lock(sim, "l", "sleep");
    const got: number[] = [];
    sim.spawn(holder(sim, lock, 100, got));
    sim.schedule(10, () => sim.spawn(holder(sim, lock, 50, got)));
    sim.schedule(20, () => sim.spawn(holder(sim, lock, 30, got)));
    sim.run();
    expect(got).toEqual([0, 100, 150]);
    // waits: 100 - 10 and 150 - 20; holds: the whole 180 ns
    expect(lock.stats).toEqual({
      acquisitions: 3,
      contended: 2,
      holdNs: 180,
      waitNs: 90 + 130,
      maxWaitNs: 130,
      maxSpinNs: 0, // a sleeping lock's waiters do not spin
    });
    expect(lock.locked).toBe(false);
  });

  test("every hold and every wait goes into the lock's distributions; spinning waits are told apart", () => {
    const sim = new Simulator();
    const lock = new Lock(sim, "l"); // spin: waiters spin unless they say otherwise
    const got: number[] = [];
    sim.spawn(holder(sim, lock, 100, got)); // holds 0..100
    sim.schedule(10, () => sim.spawn(holder(sim, lock, 50, got))); // spins 10..100, holds 100..150
    sim.schedule(20, () =>
      sim.spawn(
        (function* (): Proc<void> {
          if (!lock.tryAcquire()) yield lock.wait(false); // waits 20..150 without spinning
          yield 30;
          lock.release();
        })(),
      ),
    );
    sim.run();
    expect(lock.holds.count).toBe(3);
    expect([lock.holds.min, lock.holds.max]).toEqual([30, 100]);
    expect(Math.abs(lock.holds.percentile(50) - 50)).toBeLessThan(50 / 64); // one bucket's width
    expect(lock.waits.count).toBe(2); // the uncontended acquire is not a wait
    expect([lock.waits.min, lock.waits.max]).toEqual([90, 130]);
    expect(lock.stats.maxWaitNs).toBe(130);
    expect(lock.stats.maxSpinNs).toBe(90);
    expect(lock.holds.count).toBe(lock.stats.acquisitions);
  });

  test("a later caller cannot barge in while a waiter is being handed the lock", () => {
    const sim = new Simulator();
    const lock = new Lock(sim, "l");
    const got: number[] = [];
    sim.spawn(holder(sim, lock, 100, got));
    sim.schedule(50, () => sim.spawn(holder(sim, lock, 10, got)));
    // At 100 the lock passes straight to the waiter: a tryAcquire in the same instant fails.
    let barged = true;
    sim.at(100, () => {
      barged = lock.tryAcquire();
    });
    sim.run();
    expect(barged).toBe(false);
    expect(got).toEqual([0, 100]);
  });

  test("releasing a lock nobody holds is an error", () => {
    const lock = new Lock(new Simulator(), "l");
    expect(() => lock.release()).toThrow(/not held/);
  });

  test("booked holds queue FIFO with no event; their figures count only once due", () => {
    const sim = new Simulator();
    const lock = new Lock(sim, "l");
    expect(lock.book(100)).toBe(0); // free: starts now
    expect(lock.book(50)).toBe(100); // behind the first
    expect(sim.pending).toBe(0);
    expect(lock.locked).toBe(true);
    expect(lock.tryAcquire()).toBe(false);
    expect(lock.stats).toMatchObject({ acquisitions: 1, contended: 0, holdNs: 0 });
    sim.run(120);
    expect(lock.stats).toMatchObject({ acquisitions: 2, contended: 1, waitNs: 100, holdNs: 100 });
    expect(lock.stats.maxSpinNs).toBe(100); // a booked holder spins while it waits
    sim.run(150);
    expect(lock.stats.holdNs).toBe(150);
    expect([lock.holds.count, lock.waits.count]).toEqual([2, 1]);
    expect(lock.locked).toBe(false);
    expect(lock.tryAcquire()).toBe(true);
    expect(lock.book(10)).toBe(-1); // held by a waiting-style holder: no booking
  });

  test("a waiter behind booked holds gets the lock when they end; nobody barges in then", () => {
    const sim = new Simulator();
    const lock = new Lock(sim, "l");
    const got: number[] = [];
    lock.book(100);
    sim.schedule(10, () => sim.spawn(holder(sim, lock, 20, got)));
    let barged = true;
    sim.at(100, () => {
      barged = lock.tryAcquire();
    });
    let booked = 0;
    sim.at(50, () => {
      booked = lock.book(5); // someone waits: a booking would jump the queue
    });
    sim.run();
    expect(got).toEqual([100]);
    expect([barged, booked]).toEqual([false, -1]);
    expect(lock.stats).toMatchObject({ acquisitions: 2, contended: 1, waitNs: 90, holdNs: 120 });
    expect(lock.locked).toBe(false);
  });
});
