import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { EventHeap } from "../../../../core/model/sim/index.ts";

type Op = { kind: "push"; time: number } | { kind: "pop" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.integer({ min: 0, max: 40 }).map((time) => ({ kind: "push", time }) as Op),
  },
  { weight: 2, arbitrary: fc.constant({ kind: "pop" } as Op) },
);

describe("EventHeap", () => {
  test("pops in (time, insertion) order under any push/pop interleaving", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 400 }), (ops) => {
        const heap = new EventHeap(4);
        // Reference model: a list kept sorted by (time, id); ids are assigned in insertion order.
        const model: { time: number; id: number }[] = [];
        let nextId = 0;
        for (const op of ops) {
          if (op.kind === "push") {
            heap.push(op.time, nextId);
            model.push({ time: op.time, id: nextId++ });
            model.sort((a, b) => a.time - b.time || a.id - b.id);
          } else if (model.length > 0) {
            const want = model.shift()!;
            expect(heap.peekTime()).toBe(want.time);
            expect(heap.pop()).toBe(want.id);
          }
          expect(heap.size).toBe(model.length);
        }
        while (model.length > 0) expect(heap.pop()).toBe(model.shift()!.id);
      }),
      { numRuns: 300 },
    );
  });

  test("grows by doubling and keeps every entry", () => {
    const heap = new EventHeap(4);
    expect(heap.capacity).toBe(4);
    const n = 10_000;
    for (let i = 0; i < n; i++) heap.push((i * 7919) % 1000, i);
    expect(heap.size).toBe(n);
    expect(heap.capacity).toBe(16_384);
    let lastTime = -1;
    let lastId = -1;
    const seen = new Set<number>();
    for (let i = 0; i < n; i++) {
      const t = heap.peekTime();
      const id = heap.pop();
      expect(t).toBeGreaterThanOrEqual(lastTime);
      if (t === lastTime) expect(id).toBeGreaterThan(lastId); // FIFO among equal times
      expect((id * 7919) % 1000).toBe(t);
      seen.add(id);
      lastTime = t;
      lastId = id;
    }
    expect(seen.size).toBe(n);
    expect(heap.size).toBe(0);
  });

  test("equal times pop strictly FIFO", () => {
    const heap = new EventHeap(4);
    for (let i = 0; i < 100; i++) heap.push(5, i);
    const out: number[] = [];
    while (heap.size > 0) out.push(heap.pop());
    expect(out).toEqual([...Array(100).keys()]);
  });

  test("retain drops entries and keeps the order of the rest", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 300 }),
        fc.integer({ min: 2, max: 5 }),
        (times, mod) => {
          const heap = new EventHeap(4);
          times.forEach((t, id) => {
            heap.push(t, id);
          });
          heap.retain((id) => id % mod !== 0);
          const want = times
            .map((time, id) => ({ time, id }))
            .filter((e) => e.id % mod !== 0)
            .sort((a, b) => a.time - b.time || a.id - b.id)
            .map((e) => e.id);
          const got: number[] = [];
          while (heap.size > 0) got.push(heap.pop());
          expect(got).toEqual(want);
          // The heap is still usable after a retain.
          heap.push(3, 999);
          heap.push(1, 998);
          expect(heap.pop()).toBe(998);
          expect(heap.pop()).toBe(999);
        },
      ),
      { numRuns: 200 },
    );
  });
});
