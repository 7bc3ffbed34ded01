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
    });
    expect(lock.locked).toBe(false);
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
});
