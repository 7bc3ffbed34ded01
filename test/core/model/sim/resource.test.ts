import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type Proc, Resource, Simulator } from "../../../../core/model/sim/index.ts";

describe("Resource", () => {
  test("grants up to capacity at once, queues the rest, FIFO on release", () => {
    const sim = new Simulator();
    const res = new Resource(sim, 2);
    const log: string[] = [];
    function* user(name: string, hold: number): Proc {
      yield res.request();
      log.push(`${name}+${sim.now}`);
      yield hold;
      res.release();
      log.push(`${name}-${sim.now}`);
    }
    sim.spawn(user("a", 10), "a");
    sim.spawn(user("b", 5), "b");
    sim.spawn(user("c", 1), "c");
    sim.spawn(user("d", 1), "d");
    sim.run(0);
    expect(res.inUse).toBe(2);
    expect(res.queued).toBe(2);
    sim.run();
    expect(log).toEqual(["a+0", "b+0", "b-5", "c+5", "c-6", "d+6", "d-7", "a-10"]);
    expect(res.inUse).toBe(0);
    expect(res.queued).toBe(0);
  });

  test("an uncontended request goes on at once: no event, no new signal; a queued one waits", () => {
    const sim = new Simulator();
    const res = new Resource(sim, 1);
    const order: string[] = [];
    sim.spawn(
      (function* (): Proc {
        for (let i = 0; i < 1000; i++) {
          yield res.request();
          res.release();
        }
        order.push("1000 grants");
        yield 5;
      })(),
    );
    sim.schedule(0, () => order.push("callback due at 0"));
    sim.run();
    // Spawn, callback, the delay: the 1000 grants cost no event and ran before the callback due.
    expect(sim.eventsProcessed).toBe(3);
    expect(order).toEqual(["1000 grants", "callback due at 0"]);
    const a = new Resource(sim, 2);
    expect(a.request()).toBe(a.request()); // the same fired signal for every free grant
    expect(a.request().triggered).toBe(false); // the third waits on a signal of its own
  });

  test("a released unit goes to the oldest waiter, not to a later request at the same time", () => {
    const sim = new Simulator();
    const res = new Resource(sim, 1);
    const order: string[] = [];
    sim.spawn(
      (function* (): Proc {
        yield res.request();
        yield 10;
        res.release();
        // Re-requesting right away must queue behind the waiter that was already there.
        yield res.request();
        order.push("holder-again");
        res.release();
      })(),
      "holder",
    );
    sim.spawn(
      (function* (): Proc {
        yield 1;
        yield res.request();
        order.push("waiter");
        res.release();
      })(),
      "waiter",
    );
    sim.run();
    expect(order).toEqual(["waiter", "holder-again"]);
  });

  test("random workloads: never over capacity, grants in request order", () => {
    const job = fc.record({
      arrive: fc.integer({ min: 0, max: 100 }),
      hold: fc.integer({ min: 0, max: 50 }),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(job, { minLength: 1, maxLength: 60 }),
        (cap, jobs) => {
          const sim = new Simulator();
          const res = new Resource(sim, cap);
          const requested: number[] = [];
          const granted: number[] = [];
          let maxInUse = 0;
          jobs.forEach((j, i) => {
            sim.spawn(
              (function* (): Proc {
                yield j.arrive;
                requested.push(i);
                yield res.request();
                granted.push(i);
                maxInUse = Math.max(maxInUse, res.inUse);
                expect(res.inUse).toBeLessThanOrEqual(cap);
                yield j.hold;
                res.release();
              })(),
              `job${i}`,
            );
          });
          sim.run();
          expect(granted).toEqual(requested); // strict FIFO
          expect(maxInUse).toBeLessThanOrEqual(cap);
          expect(res.inUse).toBe(0);
          expect(res.queued).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  test("a long queue drains in order (exercises the queue's compaction)", () => {
    const sim = new Simulator();
    const res = new Resource(sim, 1);
    const got: number[] = [];
    for (let i = 0; i < 5000; i++) {
      sim.spawn(
        (function* (): Proc {
          yield res.request();
          got.push(i);
          yield 1;
          res.release();
        })(),
      );
    }
    sim.run();
    expect(got).toEqual([...Array(5000).keys()]);
    expect(sim.now).toBe(5000);
  });

  test("works with callbacks through onTrigger", () => {
    const sim = new Simulator();
    const res = new Resource(sim, 1);
    const log: number[] = [];
    for (let i = 0; i < 3; i++) {
      res.request().onTrigger(() => {
        log.push(sim.now);
        sim.schedule(4, () => res.release());
      });
    }
    sim.run();
    expect(log).toEqual([0, 4, 8]);
  });

  test("bad capacity and unmatched release throw", () => {
    const sim = new Simulator();
    expect(() => new Resource(sim, 0)).toThrow(RangeError);
    expect(() => new Resource(sim, 1.5)).toThrow(RangeError);
    const res = new Resource(sim, 1);
    expect(() => res.release()).toThrow(/without a matching/);
    res.request();
    expect(res.inUse).toBe(1);
    res.release();
    expect(res.inUse).toBe(0);
  });
});
