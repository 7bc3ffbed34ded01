import { expect, test } from "bun:test";
import { LDC_PACKET_SIZE, LdcChannel } from "../../../../core/model/hv/ldc.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";

const packet = (n: number) => new Uint8Array(LDC_PACKET_SIZE).fill(n);

/** Domain 5's end is polled and armed; its receiver records (time, first byte) and disarms when `busyAfterOne`. */
function polledChannel(queueEntries = 4) {
  const sim = new Simulator();
  const hcalls = [0, 0, 0, 0, 0, 0];
  const ch = new LdcChannel(
    sim,
    1,
    0,
    5,
    { queueEntries, latencyNs: 1000, lossRate: 0, hcalls },
    new Rng(9),
  );
  const got: [number, number][] = [];
  let resets = 0;
  const s = {
    sim,
    ch,
    got,
    hcalls,
    busyAfterOne: false,
    get resets() {
      return resets;
    },
  };
  ch.onReceive(
    5,
    (p) => {
      got.push([sim.now, p[0]!]);
      if (s.busyAfterOne) ch.arm(5, false);
    },
    () => resets++,
    true,
  );
  ch.arm(5, true);
  return s;
}

test("a polled end that waits runs its receiver as each packet lands, one wake-up per packet", () => {
  const { sim, ch, got, hcalls } = polledChannel();
  ch.send(0, packet(1));
  sim.run(500);
  ch.send(0, packet(2));
  sim.run(5000);
  expect(got).toEqual([
    [1000, 1],
    [1500, 2],
  ]);
  expect(ch.delivered).toBe(2);
  expect(hcalls[5]).toBe(2); // one LDC_RX per packet read
  expect(sim.eventsProcessed).toBe(2);
});

test("a busy polled end leaves landed packets queued until it reads them, in order, with no event", () => {
  const s = polledChannel(4);
  const { sim, ch, got, hcalls } = s;
  s.busyAfterOne = true;
  for (let i = 1; i <= 4; i++) expect(ch.send(0, packet(i))).toBe(HV.EOK);
  sim.run(5000);
  expect(got).toEqual([[1000, 1]]); // the receiver took one and is busy
  expect(sim.eventsProcessed).toBe(1);
  // The three unread packets still hold queue entries: one more fits, then EWOULDBLOCK.
  expect(ch.queued(5)).toBe(3);
  expect(ch.delivered).toBe(1);
  expect(hcalls[5]).toBe(1);
  expect(ch.send(0, packet(5))).toBe(HV.EOK);
  expect(ch.send(0, packet(6))).toBe(HV.EWOULDBLOCK);
  // Read what has landed by now: 2, 3, 4 (5 lands at 6000).
  const read: number[] = [];
  for (let p = ch.poll(5); p !== null; p = ch.poll(5)) read.push(p[0]!);
  expect(read).toEqual([2, 3, 4]);
  expect(ch.delivered).toBe(4);
  expect(hcalls[5]).toBe(4);
  expect(ch.queued(5)).toBe(1);
  // Waiting again: the receiver runs when packet 5 lands, not before.
  s.busyAfterOne = false;
  ch.arm(5, true);
  sim.run(5999);
  expect(got.length).toBe(1);
  sim.run(10_000);
  expect(got).toEqual([
    [1000, 1],
    [6000, 5],
  ]);
  expect(sim.eventsProcessed).toBe(2);
});

test("arming with packets already landed runs the receiver now; disarming cancels the wake-up", () => {
  const s = polledChannel();
  const { sim, ch, got } = s;
  ch.arm(5, false);
  ch.send(0, packet(1));
  ch.send(0, packet(2));
  sim.run(3000);
  expect(got).toEqual([]);
  ch.arm(5, true);
  sim.run(4000);
  expect(got).toEqual([
    [3000, 1],
    [3000, 2],
  ]);
  ch.send(0, packet(3)); // lands at 5000, but the end stops waiting first
  ch.arm(5, false);
  sim.run(10_000);
  expect(got.length).toBe(2);
  expect(sim.pending).toBe(0);
  expect(ch.poll(5)![0]).toBe(3);
});

test("a reset drops a polled end's unread packets and its wake-up", () => {
  const s = polledChannel();
  const { sim, ch, got } = s;
  s.busyAfterOne = true;
  ch.send(0, packet(1));
  ch.send(0, packet(2));
  sim.run(2000);
  ch.reset("test");
  expect(s.resets).toBe(1);
  expect(ch.poll(5)).toBeNull();
  expect(ch.queued(5)).toBe(0);
  ch.arm(5, true);
  ch.send(0, packet(3));
  sim.run(10_000);
  expect(got).toEqual([
    [1000, 1],
    [3000, 3],
  ]);
});

test("lastLanding: when the packet the last send queued lands; -1 when it queued none", () => {
  const { sim, ch } = polledChannel(2);
  sim.run(100);
  ch.send(0, packet(1));
  expect(ch.lastLanding).toBe(1100);
  sim.run(200);
  ch.send(0, packet(2));
  expect(ch.lastLanding).toBe(1200);
  expect(ch.send(0, packet(3))).toBe(HV.EWOULDBLOCK);
  expect(ch.lastLanding).toBe(-1);
  expect(ch.send(0, new Uint8Array(3))).toBe(HV.EINVAL);
  expect(ch.lastLanding).toBe(-1);
});
