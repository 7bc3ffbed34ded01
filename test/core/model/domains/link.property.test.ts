import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Link } from "../../../../core/model/domains/device-port.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";

/** One booking: `wait` ns after the clock's last step, ask for `ns` from `ahead` ns on. */
const stepArb = fc.record({
  advance: fc.integer({ min: 0, max: 30 }),
  ahead: fc.integer({ min: 0, max: 40 }),
  ns: fc.integer({ min: 1, max: 25 }),
});

describe("Link: a PCIe link direction as a timeline", () => {
  test("property: one transfer's data at a time, each in the earliest free stretch long enough at or after it can start", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 120 }), (steps) => {
        const sim = new Simulator();
        const link = new Link(sim);
        const booked: [number, number][] = [];
        const overlaps = (a: number, b: number) => booked.some(([s, e]) => s < b && a < e);
        for (const { advance, ahead, ns } of steps) {
          sim.run(sim.now + advance);
          const at = sim.now + ahead;
          const start = link.fit(at, ns);
          expect(start).toBeGreaterThanOrEqual(at);
          // Never two transfers' data on the link at once.
          expect(overlaps(start, start + ns)).toBe(false);
          // Earliest: every earlier start it could have had (at, or where a stretch ends) collides.
          for (const t of [at, ...booked.map(([, e]) => e)])
            if (t >= at && t < start) expect(overlaps(t, t + ns)).toBe(true);
          expect(link.clash(start, start + ns)).toBe(-1);
          link.book(start, start + ns);
          expect(link.clash(start, start + ns)).toBe(start + ns);
          booked.push([start, start + ns]);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("a transfer that asks while the link is busy starts when the data ahead of it is through", () => {
    const sim = new Simulator();
    const link = new Link(sim);
    link.book(link.fit(0, 100), 100);
    expect(link.fit(10, 5)).toBe(100);
    link.book(100, 105);
    // A gap before a stretch booked ahead is used when the transfer fits in it.
    link.book(link.fit(300, 50), 350);
    expect(link.fit(200, 100)).toBe(200);
    expect(link.fit(200, 101)).toBe(350);
    sim.run(400);
    expect(link.fit(0, 1)).toBe(0); // stretches already over are forgotten
  });
});
