/**
 * One LDC channel, every path: who may send, queue bounds, each fault-injection fate, in-order
 * arrival, resets, counters, per-domain hypercall counts and events. Fast on purpose (a mutation
 * run executes it per mutant).
 */
import { describe, expect, test } from "bun:test";
import { EventBus } from "../../../../core/model/events/bus.ts";
import { LDC_PACKET_SIZE, LdcChannel, type LdcOptions } from "../../../../core/model/hv/ldc.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";

const packet = (n: number) => new Uint8Array(LDC_PACKET_SIZE).fill(n);

function channel(opts: Partial<LdcOptions> = {}, withBus = false) {
  const sim = new Simulator();
  const bus = withBus ? new EventBus(() => sim.now) : undefined;
  const events: Record<string, unknown>[] = [];
  bus?.on("*", (e) => events.push({ ...(e as unknown as Record<string, unknown>) }));
  const ch = new LdcChannel(
    sim,
    3,
    2,
    5,
    { queueEntries: 4, latencyNs: 1000, lossRate: 0, ...opts },
    new Rng(9),
    bus,
  );
  const got: [number, number, number][] = []; // [time, receiving side, first byte]
  ch.onReceive(5, (p) => got.push([sim.now, 5, p[0]!]));
  ch.onReceive(2, (p) => got.push([sim.now, 2, p[0]!]));
  return { sim, ch, got, events };
}

describe("LDC channel", () => {
  test("packet size, ends, peers", () => {
    expect(LDC_PACKET_SIZE).toBe(64);
    const { ch } = channel();
    expect([ch.id, ...ch.ends]).toEqual([3, 2, 5]);
    expect([ch.peerOf(2), ch.peerOf(5)]).toEqual([5, 2]);
    expect(() => ch.onReceive(4, () => {})).toThrow(
      new RangeError("domain 4 is not an endpoint of LDC channel 3"),
    );
  });

  test("both directions, each after the latency, each with its own queue bound", () => {
    const { sim, ch, got } = channel({ queueEntries: 2 });
    expect(ch.send(2, packet(1))).toBe(HV.EOK);
    expect(ch.send(2, packet(2))).toBe(HV.EOK);
    expect(ch.send(2, packet(3))).toBe(HV.EWOULDBLOCK);
    expect(ch.send(5, packet(7))).toBe(HV.EOK); // the other direction has room
    expect([ch.queued(5), ch.queued(2), ch.queued(9)]).toEqual([2, 1, 0]);
    expect([ch.sent, ch.wouldBlock, ch.delivered]).toEqual([3, 1, 0]);
    sim.run(999);
    expect(got).toEqual([]);
    sim.run();
    expect(got).toEqual([
      [1000, 5, 1],
      [1000, 5, 2],
      [1000, 2, 7],
    ]);
    expect([ch.queued(5), ch.queued(2), ch.delivered]).toEqual([0, 0, 3]);
    expect(ch.send(2, packet(4))).toBe(HV.EOK);
  });

  test("the receiver gets a copy: the sender may reuse its buffer at once", () => {
    const { sim, ch, got } = channel();
    const p = packet(1);
    ch.send(2, p);
    p[0] = 9;
    sim.run();
    expect(got).toEqual([[1000, 5, 1]]);
  });

  test("refused sends: not an endpoint, a down end, a wrong size; none counted", () => {
    const { ch } = channel();
    expect(ch.send(4, packet(1))).toBe(HV.ECHANNEL);
    expect(ch.send(2, new Uint8Array(63))).toBe(HV.EINVAL);
    expect(ch.send(2, new Uint8Array(65))).toBe(HV.EINVAL);
    expect([ch.sent, ch.wouldBlock]).toEqual([0, 0]);
    ch.reset("peer died", 2); // side 0 down: the channel is down both ways
    expect(ch.isUp).toBe(false);
    expect(ch.send(5, packet(1))).toBe(HV.ECHANNEL);
    expect(ch.send(5, new Uint8Array(3))).toBe(HV.ECHANNEL);
    const other = channel().ch;
    other.reset("x", 5);
    expect(other.send(2, packet(1))).toBe(HV.ECHANNEL);
  });

  test("a packet never overtakes the one before it, however the latency falls", () => {
    const { sim, ch, got } = channel({ fate: (p) => (p[0] === 1 ? 3 : 1), lateNs: 5000 });
    ch.send(2, packet(1)); // delivered 5000 late
    sim.at(500, () => ch.send(2, packet(2)));
    sim.at(7000, () => ch.send(2, packet(3)));
    sim.run();
    expect(got).toEqual([
      [6000, 5, 1],
      [6000, 5, 2],
      [8000, 5, 3],
    ]);
  });

  test("fates: lost (counted, no delivery), duplicated (a second copy if there is room)", () => {
    const fates: (0 | 1 | 2 | 3)[] = [0, 2, 2, 2, 1];
    const seen: number[] = [];
    const { sim, ch, got } = channel({
      fate: (_p, from) => {
        seen.push(from);
        return fates.shift()!;
      },
    });
    expect(ch.send(2, packet(1))).toBe(HV.EOK); // lost
    expect([ch.dropped, ch.queued(5)]).toEqual([1, 0]);
    expect(ch.send(2, packet(2))).toBe(HV.EOK); // two copies
    expect(ch.queued(5)).toBe(2);
    expect(ch.send(2, packet(3))).toBe(HV.EOK); // two copies: the queue (4) is full
    expect(ch.queued(5)).toBe(4);
    expect(ch.send(2, packet(4))).toBe(HV.EWOULDBLOCK);
    sim.run();
    expect(got.map((g) => g[2])).toEqual([2, 2, 3, 3]);
    expect(seen).toEqual([2, 2, 2]);
    ch.send(2, packet(5)); // fate 2 with three slots free: both copies
    ch.send(2, packet(6));
    ch.send(2, packet(7)); // fates ran out: undefined counts as delivered once
    expect(ch.queued(5)).toBe(4);
    expect([ch.sent, ch.dropped, ch.delivered]).toEqual([6, 1, 4]);
  });

  test("a duplicate is not made when its copy would not fit", () => {
    const { sim, ch, got } = channel({ queueEntries: 3, fate: (p) => (p[0] === 3 ? 2 : 1) });
    ch.send(2, packet(1));
    ch.send(2, packet(2));
    ch.send(2, packet(3)); // third slot: no room for its copy
    expect(ch.queued(5)).toBe(3);
    sim.run();
    expect(got.map((g) => g[2])).toEqual([1, 2, 3]);
  });

  test("late without lateNs is on time; the loss rate draws from the channel's Rng", () => {
    const { sim, ch, got } = channel({ fate: () => 3 });
    ch.send(2, packet(1));
    sim.run();
    expect(got).toEqual([[1000, 5, 1]]);
    const lossy = channel({ lossRate: 1 });
    lossy.ch.send(2, packet(1));
    lossy.sim.run();
    expect([lossy.ch.dropped, lossy.got.length]).toEqual([1, 0]);
    const none = channel({ lossRate: 0 });
    for (let i = 0; i < 50; i++) none.ch.send(2, packet(1));
    expect(none.ch.dropped).toBe(0);
  });

  test("a loss rate between 0 and 1 loses some packets, not all", () => {
    const { sim, ch, got } = channel({ lossRate: 0.5, queueEntries: 256 });
    for (let i = 0; i < 200; i++) ch.send(2, packet(i));
    sim.run();
    expect(ch.dropped).toBeGreaterThan(50);
    expect(ch.dropped).toBeLessThan(150);
    expect(got.length).toBe(200 - ch.dropped);
  });

  test("a lossless channel draws nothing from its Rng (other users of the stream see the same numbers)", () => {
    const rng = new Rng(4);
    const sim = new Simulator();
    const ch = new LdcChannel(sim, 1, 0, 1, { queueEntries: 8, latencyNs: 1, lossRate: 0 }, rng);
    for (let i = 0; i < 5; i++) ch.send(0, packet(i));
    expect(rng.float()).toBe(new Rng(4).float());
  });

  test("reset: everything in flight discarded, queues emptied, both resetters told, reason emitted", () => {
    const { sim, ch, got, events } = channel({}, true);
    let resets = "";
    ch.onReceive(
      5,
      (p) => got.push([sim.now, 5, p[0]!]),
      () => (resets += "5"),
    );
    ch.onReceive(
      2,
      (p) => got.push([sim.now, 2, p[0]!]),
      () => (resets += "2"),
    );
    ch.send(2, packet(1));
    ch.send(5, packet(2));
    events.length = 0;
    ch.reset("flush");
    expect(resets).toBe("25");
    expect([ch.queued(5), ch.queued(2)]).toEqual([0, 0]);
    expect(ch.isUp).toBe(true); // no dead end: still up
    expect(events).toEqual([{ type: "ldc.reset", t: 0, channel: 3, reason: "flush" }]);
    ch.send(2, packet(3));
    sim.run();
    expect(got).toEqual([[1000, 5, 3]]);
    expect(ch.delivered).toBe(1);
    ch.reset("not an end", 9);
    expect(ch.isUp).toBe(true);
  });

  test("a receiver registered without a resetter; a side without a receiver", () => {
    const sim = new Simulator();
    const ch = new LdcChannel(
      sim,
      1,
      0,
      1,
      { queueEntries: 2, latencyNs: 1, lossRate: 0 },
      new Rng(1),
    );
    ch.send(0, packet(1)); // nobody listens at 1: delivered to no one, counted
    sim.run();
    expect(ch.delivered).toBe(1);
    ch.onReceive(1, () => {});
    ch.reset("x");
    expect(ch.isUp).toBe(true);
  });

  test("hypercall counts: an LDC_TX per send by the sender, an LDC_RX per delivery by the receiver", () => {
    const hcalls = [0, 0, 0, 0, 0, 0];
    const { sim, ch } = channel({ hcalls, fate: (p) => (p[0] === 0 ? 0 : 1) });
    ch.send(2, packet(1));
    ch.send(2, packet(0)); // lost: sent, not received
    ch.send(5, packet(1));
    expect(hcalls).toEqual([0, 0, 2, 0, 0, 1]);
    sim.run();
    expect(hcalls).toEqual([0, 0, 3, 0, 0, 2]);
  });

  test("each event reaches a listener of its own kind (not only a listener of every kind)", () => {
    const sim = new Simulator();
    const bus = new EventBus(() => sim.now);
    const seen: string[] = [];
    for (const kind of ["ldc.send", "ldc.deliver", "ldc.drop", "ldc.reset"] as const)
      bus.on(kind, (e) => seen.push(e.type));
    const ch = new LdcChannel(
      sim,
      1,
      0,
      1,
      { queueEntries: 8, latencyNs: 1, lossRate: 0, fate: (p) => (p[0] === 0 ? 0 : 1) },
      new Rng(1),
      bus,
    );
    ch.send(0, packet(0));
    ch.send(0, packet(1));
    sim.run();
    ch.reset("x");
    expect(seen).toEqual(["ldc.send", "ldc.drop", "ldc.send", "ldc.deliver", "ldc.reset"]);
  });

  test("events: send, deliver and drop with the label of each packet", () => {
    const { sim, ch, events } = channel(
      {
        fate: (p) => (p[0] === 9 ? 0 : 1),
        label: (p) => ({ msg: `m${p[0]}`, id: p[0]! * 10 }),
      },
      true,
    );
    ch.send(2, packet(1));
    ch.send(5, packet(9));
    sim.run();
    // Strict: only a drop carries a reason (not even an undefined one elsewhere).
    expect(events).toStrictEqual([
      { type: "ldc.send", t: 0, channel: 3, from: 2, to: 5, msg: "m1", id: 10 },
      { type: "ldc.send", t: 0, channel: 3, from: 5, to: 2, msg: "m9", id: 90 },
      { type: "ldc.drop", t: 0, channel: 3, from: 5, to: 2, msg: "m9", id: 90, reason: "lost" },
      { type: "ldc.deliver", t: 1000, channel: 3, from: 2, to: 5, msg: "m1", id: 10 },
    ]);
    const plain = channel({}, true);
    plain.ch.send(5, packet(1));
    expect(plain.events).toStrictEqual([
      { type: "ldc.send", t: 0, channel: 3, from: 5, to: 2, msg: "packet", id: 0 },
    ]);
  });
});
