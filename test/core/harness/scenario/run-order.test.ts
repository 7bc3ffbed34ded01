import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { RunOrder } from "../../../../core/harness/scenario/run-order.ts";

const takeAll = (o: RunOrder) => {
  const out: number[] = [];
  for (let r = o.take(); r >= 0; r = o.take()) out.push(r);
  return out;
};

describe("the order a sweep takes its runs in", () => {
  test("plan order until probed; the runs not started go longest first, ties in plan order", () => {
    const o = new RunOrder(6);
    expect([o.take(), o.take()]).toEqual([0, 1]);
    expect(o.notStarted()).toEqual([5, 4, 3, 2]);
    // Run 4 was probed over a tenth of its time: 30 events there are 300 in all.
    o.reorder([5, 4, 3, 2], [100, 30, 300, 100], 1 / 10);
    expect(o.left).toBe(4);
    expect(takeAll(o)).toEqual([3, 2, 5, 4]);
    expect(o.take()).toBe(-1);
  });

  test("a run the probe did not reach counts as the probed mean; no estimates, no change", () => {
    const o = new RunOrder(4);
    o.reorder([], [], 0.5);
    expect(takeAll(o)).toEqual([0, 1, 2, 3]);
    const p = new RunOrder(4);
    p.reorder([3, 2], [10, 2], 0.5); // mean 6: runs 0 and 1 go between 3 and 2
    expect(takeAll(p)).toEqual([3, 0, 1, 2]);
  });

  test("every run is taken once, whatever the estimates and when they come", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.nat({ max: 40 }),
        fc.array(fc.nat({ max: 1000 }), { maxLength: 40 }),
        (total, before, costs) => {
          const o = new RunOrder(total);
          const taken: number[] = [];
          for (let i = 0; i < before && o.left > 0; i++) taken.push(o.take());
          const runs = o.notStarted().slice(0, costs.length);
          o.reorder(runs, costs.slice(0, runs.length), 1 / 200);
          const rest = takeAll(o);
          expect([...taken, ...rest].sort((a, b) => a - b)).toEqual([...Array(total).keys()]);
          const cost = (r: number) => costs[runs.indexOf(r)]!;
          const probed = rest.filter((r) => runs.includes(r));
          for (let i = 1; i < probed.length; i++)
            expect(cost(probed[i - 1]!)).toBeGreaterThanOrEqual(cost(probed[i]!));
        },
      ),
    );
  });
});
