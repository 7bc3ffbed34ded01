import { expect, test } from "bun:test";
import { leaseWithFallback } from "../../../../core/model/domains/leases.ts";
import type { Proc } from "../../../../core/model/sim/kernel.ts";

/** Runs the fallback against a broker that grants `free` pages at most; returns the sizes asked. */
function asks(want: number, need: number, free: number, answer = "nack:no room") {
  const sizes: number[] = [];
  const gen = leaseWithFallback(want, need, function* (n): Proc<number | string> {
    sizes.push(n);
    yield 1000; // the round trip to the broker
    return n <= free ? 7 : answer;
  });
  let r = gen.next();
  while (!r.done) r = gen.next();
  return { sizes, got: r.value };
}

test("a nacked lease is asked for again at half the size, down to what the mapping needs", () => {
  expect(asks(512, 3, 100)).toEqual({ sizes: [512, 256, 128, 64], got: 7 });
  expect(asks(512, 3, 0)).toEqual({
    sizes: [512, 256, 128, 64, 32, 16, 8, 4, 3],
    got: "nack:no room",
  });
  expect(asks(512, 600, 1000)).toEqual({ sizes: [600], got: 7 }); // a big mapping gets its own size
});

test("a timeout is not retried smaller: the broker is away, not short of room", () => {
  expect(asks(512, 1, 0, "negotiation-timeout")).toEqual({
    sizes: [512],
    got: "negotiation-timeout",
  });
});
