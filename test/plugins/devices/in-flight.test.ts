import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type Proc, Resource, Simulator } from "../../../core/index.ts";
import { InFlight } from "../../../plugins/devices/queues.ts";

/** Operations: each asks `at` ns into the run and, once granted, lasts `ns`; some say their end. */
const opsArb = fc.array(
  fc.record({
    at: fc.integer({ min: 0, max: 200 }),
    ns: fc.integer({ min: 0, max: 80 }),
    known: fc.boolean(),
  }),
  { minLength: 1, maxLength: 40 },
);

type Op = { at: number; ns: number; known: boolean };

/** Start time of each operation under a FIFO resource of `n` (the reference). */
function reference(ops: Op[], n: number): number[] {
  const sim = new Simulator();
  const r = new Resource(sim, n);
  const starts: number[] = [];
  for (const [i, op] of ops.entries())
    sim.spawn(
      (function* (): Proc<void> {
        yield op.at;
        yield r.request();
        starts[i] = sim.now;
        if (op.ns > 0) yield op.ns;
        r.release();
      })(),
    );
  sim.run();
  return starts;
}

/** The same under InFlight: an operation with a known end says it and does not wait for it. */
function inFlight(ops: Op[], n: number): number[] {
  const sim = new Simulator();
  const f = new InFlight(sim, n);
  const starts: number[] = [];
  for (const [i, op] of ops.entries())
    sim.spawn(
      (function* (): Proc<void> {
        yield op.at;
        yield f.request();
        starts[i] = sim.now;
        if (op.known) f.endsAt(sim.now + op.ns);
        else {
          if (op.ns > 0) yield op.ns;
          f.release();
        }
      })(),
    );
  sim.run();
  return starts;
}

describe("InFlight: at most n operations in flight, in the order asked", () => {
  test("property: every operation starts when it would under a FIFO resource of n", () => {
    fc.assert(
      fc.property(opsArb, fc.integer({ min: 1, max: 4 }), (ops, n) => {
        expect(inFlight(ops, n)).toEqual(reference(ops, n));
      }),
      { numRuns: 300 },
    );
  });

  test("an operation with a known end frees its slot with no event unless someone waits", () => {
    const sim = new Simulator();
    const f = new InFlight(sim, 1);
    expect(f.request().triggered).toBe(true);
    f.endsAt(100);
    sim.run();
    expect(sim.eventsProcessed).toBe(0);
  });
});
