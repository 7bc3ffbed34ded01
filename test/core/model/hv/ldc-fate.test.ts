import { expect, test } from "bun:test";
import { LDC_PACKET_SIZE, LdcChannel } from "../../../../core/model/hv/ldc.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";

const packet = (n: number) => new Uint8Array(LDC_PACKET_SIZE).fill(n);

test("a fate hook loses, duplicates or delays each packet, keeping the order", () => {
  const sim = new Simulator();
  const fates: (0 | 1 | 2 | 3)[] = [1, 0, 2, 3, 1];
  let i = 0;
  const ch = new LdcChannel(
    sim,
    1,
    0,
    5,
    { queueEntries: 8, latencyNs: 1000, lossRate: 0, fate: () => fates[i++]!, lateNs: 5000 },
    new Rng(9),
  );
  const got: [number, number][] = [];
  ch.onReceive(5, (p) => got.push([sim.now, p[0]!]));
  for (let n = 1; n <= 5; n++) expect(ch.send(0, packet(n))).toBe(HV.EOK);
  expect(ch.queued(5)).toBe(5); // 1, 3 twice, 4, 5
  sim.run();
  // 2 lost; 3 twice; 4 late, and 5 (sent after it) never overtakes it.
  expect(got).toEqual([
    [1000, 1],
    [1000, 3],
    [1000, 3],
    [6000, 4],
    [6000, 5],
  ]);
  expect(ch.dropped).toBe(1);
  expect(ch.delivered).toBe(5);
});

test("a duplicate needs a queue slot of its own", () => {
  const sim = new Simulator();
  const ch = new LdcChannel(
    sim,
    1,
    0,
    5,
    { queueEntries: 1, latencyNs: 10, lossRate: 0, fate: () => 2 },
    new Rng(9),
  );
  const got: number[] = [];
  ch.onReceive(5, (p) => got.push(p[0]!));
  expect(ch.send(0, packet(7))).toBe(HV.EOK);
  sim.run();
  expect(got).toEqual([7]);
});
