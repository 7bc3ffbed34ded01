import { expect, test } from "bun:test";
import { LDC_PACKET_SIZE, LdcChannel } from "../../../../core/model/hv/ldc.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";

const packet = (n: number) => new Uint8Array(LDC_PACKET_SIZE).fill(n);

function channel(queueEntries = 4, lossRate = 0) {
  const sim = new Simulator();
  const ch = new LdcChannel(sim, 1, 0, 5, { queueEntries, latencyNs: 1000, lossRate }, new Rng(9));
  const got: [number, number][] = [];
  ch.onReceive(5, (p) => got.push([sim.now, p[0]!]));
  return { sim, ch, got };
}

test("packets arrive in order after the latency; a full queue answers EWOULDBLOCK", () => {
  const { sim, ch, got } = channel(4);
  for (let i = 1; i <= 4; i++) expect(ch.send(0, packet(i))).toBe(HV.EOK);
  expect(ch.send(0, packet(5))).toBe(HV.EWOULDBLOCK);
  expect(ch.queued(5)).toBe(4);
  sim.run(5000);
  expect(got).toEqual([
    [1000, 1],
    [1000, 2],
    [1000, 3],
    [1000, 4],
  ]);
  expect(ch.send(0, packet(6))).toBe(HV.EOK); // room again
  expect(ch.wouldBlock).toBe(1);
});

test("only 64-byte packets from an endpoint are accepted", () => {
  const { ch } = channel();
  expect(ch.send(0, new Uint8Array(10))).toBe(HV.EINVAL);
  expect(ch.send(3, packet(1))).toBe(HV.ECHANNEL);
});

test("a reset drops what is in flight and tells both ends; a dead end keeps the channel down", () => {
  const { sim, ch, got } = channel();
  let resets = 0;
  ch.onReceive(
    0,
    () => {},
    () => resets++,
  );
  ch.send(0, packet(1));
  ch.reset("test", 5);
  sim.run(5000);
  expect(got).toEqual([]);
  expect(resets).toBe(1);
  expect(ch.isUp).toBe(false);
  expect(ch.send(0, packet(2))).toBe(HV.ECHANNEL);
});

test("lost packets (fault injection) are counted and never delivered", () => {
  const { sim, ch, got } = channel(1024, 0.5);
  for (let i = 0; i < 200; i++) ch.send(0, packet(i & 0xff));
  sim.run(10_000);
  expect(ch.dropped).toBeGreaterThan(50);
  expect(got.length + ch.dropped).toBe(200);
});
