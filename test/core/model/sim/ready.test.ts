import { describe, expect, test } from "bun:test";
import { type Proc, Simulator } from "../../../../core/model/sim/index.ts";
import { after, ready } from "../../../../core/model/sim/ready.ts";

describe("ready(): a call's no-wait path without a generator", () => {
  test("yield* ready(v) gives v at once, with no event", () => {
    const sim = new Simulator();
    const got: unknown[] = [];
    sim.spawn(
      (function* (): Proc {
        got.push(yield* ready(5));
        got.push(yield* ready("x"));
        yield 3;
        got.push(sim.now);
      })(),
    );
    sim.run();
    expect(got).toEqual([5, "x", 3]);
    expect(sim.eventsProcessed).toBe(2); // the spawn and the delay
  });

  test("a spawned ready() value keeps its own value though ready() is called again before it runs", () => {
    const sim = new Simulator();
    const p = sim.spawn(ready(7));
    ready(9);
    sim.run();
    expect(p.finished).toBe(true);
    expect(p.done.value).toBe(7);
  });
});

describe("after(ns, v): one wait, then a value, without a generator", () => {
  test("yield* after(ns, v) waits ns (one event) and gives v; two at once each keep theirs", () => {
    const sim = new Simulator();
    const got: unknown[] = [];
    const proc = (ns: number, v: string) =>
      (function* (): Proc {
        got.push([v, yield* after(ns, v), sim.now]);
      })();
    sim.spawn(proc(7, "a"));
    sim.spawn(proc(3, "b"));
    sim.run();
    expect(got).toEqual([
      ["b", "b", 3],
      ["a", "a", 7],
    ]);
    expect(sim.eventsProcessed).toBe(4); // two spawns, two waits
  });
});
