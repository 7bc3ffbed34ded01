import { describe, expect, test } from "bun:test";
import { type CoreHooks, Hooks } from "../../../core/harness/plugin/hooks.ts";
import { PluginHost } from "../../../core/harness/plugin/host.ts";
import type { DeviceFactory, GuestIo, IoPath } from "../../../core/model/domains/io.ts";
import { Platform } from "../../../core/model/domains/platform.ts";
import type {
  GlobalPolicyFactory,
  LocalPolicyFactory,
} from "../../../core/model/domains/policy.ts";
import { EventBus } from "../../../core/model/events/bus.ts";
import { LDC_PACKET_SIZE, type LdcChannel } from "../../../core/model/hv/ldc.ts";
import { parseCostModel } from "../../../core/model/machine/parse.ts";
import { RngStreams } from "../../../core/model/sim/rng.ts";
import nic from "../../../plugins/devices/nic.ts";
import serviceDomain from "../../../plugins/paths/service-domain.ts";
import bitmapNextFit from "../../../plugins/policies/bitmap-next-fit.ts";
import firstFit from "../../../plugins/policies/first-fit.ts";
import { runProc } from "../../helpers/platform.ts";
import { smallMachine } from "../../helpers/small-machine.ts";

/** Request packet as the guest's front end lays it out (see vioPacket in service-domain.ts). */
function packet(op: number, id: number, cookie: bigint, bytes: number, readyAt = 0n): Uint8Array {
  const p = new Uint8Array(LDC_PACKET_SIZE);
  const v = new DataView(p.buffer);
  v.setUint8(0, op);
  v.setUint32(4, id);
  v.setBigUint64(8, cookie);
  v.setUint32(16, bytes);
  v.setBigUint64(24, readyAt);
  return p;
}

/** A guest's service-domain endpoint, set up (the backend has its ring mapped). */
function endpoint() {
  const rng = new RngStreams(1);
  const bus = new EventBus(() => 0);
  const host = new PluginHost({ hooks: new Hooks<CoreHooks>(), bus, rng: (s) => rng.stream(s) });
  const path = host.use(serviceDomain) as IoPath;
  const global = host.use(firstFit) as GlobalPolicyFactory;
  const local = host.use(bitmapNextFit) as LocalPolicyFactory;
  const cost = parseCostModel({});
  // The path's plan gives the device to the control domain, as in a run.
  const { md } = path.plan!({
    md: smallMachine({ guests: 1, windowPages: 4096 }),
    cost,
    guestDma: {},
  });
  const platform = new Platform({
    md,
    cost,
    seed: 1,
    globalPolicy: (_d, windowPages, guests, meter) => global({ windowPages, guests, meter }),
    localPolicy: (_g, _d, windowPages, cpus, meter) => local({ windowPages, cpus, meter }),
    bus,
  });
  const m = { platform, sim: platform.sim, hv: platform.hv };
  const device = (host.use(nic) as DeviceFactory)({
    sim: m.sim,
    port: platform.devicePort(m.hv.devices[0]!.id),
    desc: m.hv.devices[0]!.desc,
    cost,
    rng: rng.stream("device"),
    cpu: platform.cpus[m.hv.devices[0]!.domain]!,
  });
  const guest = platform.guests[0]!;
  const io = path.connect({ platform, guest, device, cost, rng: rng.stream("path"), bus });
  expect(runProc(m, io.setup())).toBe(true);
  // The endpoint's private parts a misbehaving front end would reach: its channel, its waiters.
  const inner = io as GuestIo & {
    channel: LdcChannel;
    stats: { refused: number };
  };
  return { ...m, guest, io: inner, device };
}

/** What a refused request must leave alone: mappings, TTEs, control memory, hypercalls, CPU. */
function sideEffects(m: ReturnType<typeof endpoint>) {
  const io = [...m.hv.iommus.values()][0]!;
  const control = m.platform.control.dma.get(0x200)!;
  return JSON.stringify({
    owners: [...io.entryOwner],
    valid: Array.from({ length: io.windowPages }, (_, i) => io.iotsb.isValid(i)),
    dma: control.stats,
    hcalls: m.hv.hcalls,
    cpu: m.platform.controlCpu.backlog,
    memory: Bun.hash.wyhash(new Uint8Array(m.hv.memory.content.buffer)).toString(),
  });
}

describe("service-domain backend: a bad request packet is refused, counted, with no side effect", () => {
  const bad: [string, (maxBytes: number) => Uint8Array][] = [
    ["an unknown op", () => packet(0x47, 901, 0n, 1500)],
    ["a cookie above 2^53", () => packet(0x40, 902, 1n << 60n, 1500)],
    ["a readyAt above 2^53", () => packet(0x41, 903, 0n, 1500, 1n << 55n)],
    ["zero bytes", () => packet(0x40, 904, 0n, 0)],
    [
      "more bytes than the device (and the backend's buffer) takes",
      (max) => packet(0x41, 905, 0n, max + 1),
    ],
  ];
  for (const [what, make] of bad)
    test(what, () => {
      const m = endpoint();
      const replies: Uint8Array[] = [];
      m.io.channel.onReceive(m.guest.id, (p) => replies.push(p));
      const before = sideEffects(m);
      const pkt = make(m.device.maxBytes);
      expect(m.io.channel.send(m.guest.id, pkt)).toBe(0);
      m.sim.run(m.sim.now + 1_000_000);
      expect(m.io.stats.refused).toBe(1);
      expect(replies).toHaveLength(1);
      const reply = new DataView(replies[0]!.buffer);
      expect(reply.getUint8(0)).toBe(0x50);
      expect(reply.getUint32(4)).toBe(new DataView(pkt.buffer).getUint32(4));
      expect(reply.getUint8(1)).not.toBe(0); // an error status: bad-request
      // Delivering the packet and the reply cost the channel hypercalls; nothing else moved.
      const after = JSON.parse(sideEffects(m));
      const was = JSON.parse(before);
      expect({ ...after, hcalls: null }).toEqual({ ...was, hcalls: null });
    });

  test("a well-formed request still works on the same endpoint (the control)", () => {
    const m = endpoint();
    const r = runProc(m, m.io.submit({ op: "tx", bytes: 1500 }, 0));
    expect(r.error).toBe("");
    expect(m.io.stats.refused).toBe(0);
  });
});

describe("service-domain: a channel reset while requests wait", () => {
  test("every waiting request ends channel-reset: one whose reply was in flight when that reply would have landed, the others at once", () => {
    const m = endpoint();
    const t0 = m.sim.now;
    const procs = [0, 1, 2, 3].map((i) => m.sim.spawn(m.io.submit({ op: "tx", bytes: 1500 }, i)));
    // Run until the backend has sent one reply (it lands a channel latency later), then reset.
    while (m.io.channel.queued(m.guest.id) === 0) m.sim.run(m.sim.now + 100);
    const inFlight = m.io.channel.lastLanding;
    const resetAt = m.sim.now;
    expect(inFlight).toBeGreaterThan(resetAt);
    m.io.channel.reset("test");
    m.sim.run(m.sim.now + 1_000_000);
    const results = procs.map((p) => p.done.value!);
    expect(procs.every((p) => p.finished)).toBe(true);
    expect(results.map((r) => r.error)).toEqual(Array(4).fill("channel-reset"));
    // The one with a reply in flight wakes when it would have landed, then its receive work.
    const ends = results.map((r) => t0 + r.latencyNs).sort((a, b) => a - b);
    expect(ends.at(-1)).toBeGreaterThanOrEqual(inFlight);
    expect(ends[0]).toBeLessThan(inFlight);
  });
});
