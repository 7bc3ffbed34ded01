// A guest's end of the negotiation against a scripted broker end: ids, resends and their timing,
// back-off, the background chase, strays given back, and the vCPU time of each packet.
import { describe, expect, test } from "bun:test";
import { BrokerClient } from "../../../../core/model/domains/broker-client.ts";
import {
  decode,
  encode,
  type Message,
  Msg,
  message,
} from "../../../../core/model/domains/protocol.ts";
import { LdcChannel } from "../../../../core/model/hv/ldc.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { DomainCpu } from "../../../../core/model/machine/cpu.ts";
import { parseCostModel } from "../../../../core/model/machine/parse.ts";
import { type Proc, Simulator } from "../../../../core/model/sim/kernel.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";

const GUEST = 1;
const BROKER = 0;
const DH = 0x200;

/** The broker's answer to a packet: replies to send (each after `delay`), or none. */
type Script = (m: Message, n: number) => { m: Message; delay?: number }[];

function rig(script: Script, opts: { retries?: number; queueEntries?: number } = {}) {
  const sim = new Simulator();
  const cost = parseCostModel({ ldcRetries: opts.retries ?? 2 });
  const channel = new LdcChannel(
    sim,
    1,
    BROKER,
    GUEST,
    { queueEntries: opts.queueEntries ?? 16, latencyNs: cost.ldcLatencyNs, lossRate: 0 },
    new Rng(1),
  );
  const cpu = new DomainCpu(sim, 2);
  const state = { alive: true };
  const client = new BrokerClient(sim, GUEST, channel, cpu, cost, () => state.alive);
  const seen: { t: number; m: Message }[] = [];
  channel.onReceive(BROKER, (pkt) => {
    const m = decode(pkt)!;
    seen.push({ t: sim.now, m });
    for (const r of script(m, seen.length)) {
      sim.schedule(r.delay ?? 0, () => channel.send(BROKER, encode(r.m)));
    }
  });
  const run = <T>(p: Proc<T>) => {
    const proc = sim.spawn(p);
    let end = -1;
    proc.done.onTrigger(() => {
      end = sim.now;
    });
    return {
      result: () => proc.done.value as T,
      end: () => end,
    };
  };
  return { sim, cost, channel, cpu, state, client, seen, run };
}

const grantFor = (m: Message, base = 0x8000_0000, npages = 2): Message =>
  message(Msg.DVMA_GRANT, { id: m.id, devhandle: DH, base, npages });
const req = (npages = 2) => message(Msg.DVMA_REQ, { devhandle: DH, npages });

describe("BrokerClient", () => {
  test("handshake: true on VER_ACK, false on VER_NACK or silence", () => {
    for (const [kind, want] of [
      [Msg.VER_ACK, true],
      [Msg.VER_NACK, false],
    ] as const) {
      const r = rig((m) => [{ m: message(kind, { id: m.id }) }]);
      const h = r.run(r.client.handshake());
      r.sim.run(1e9);
      expect(h.result()).toBe(want);
      expect(r.seen[0]!.m).toMatchObject({ kind: Msg.VER_INFO, major: 2, minor: 0, id: 1 });
    }
    const silent = rig(() => []);
    const h = silent.run(silent.client.handshake());
    silent.sim.run(1e9);
    expect(h.result()).toBe(false);
  });

  test("ids count up from 1 and wrap past 2^32 - 1 to 1, never 0", () => {
    const r = rig((m) => [{ m: grantFor(m) }]);
    r.run(r.client.ask(req()));
    r.run(r.client.ask(req()));
    r.sim.run(1e9);
    (r.client as unknown as { nextId: number }).nextId = 0xffff_fffe;
    r.run(r.client.ask(req()));
    r.run(r.client.ask(req()));
    r.run(r.client.ask(req()));
    r.sim.run(2e9);
    expect(r.seen.map((s) => s.m.id)).toEqual([1, 2, 0xffff_ffff, 1, 2]);
  });

  test("a reply: its time, the asker's vCPU time for sending and receiving, the counters", () => {
    const r = rig((m) => [{ m: grantFor(m), delay: 5000 }]);
    const a = r.run(r.client.ask(req(), false, 1));
    r.sim.run(1e9);
    const { ldcLatencyNs: lat, ldcSendCpuNs: snd, ldcRecvCpuNs: rcv } = r.cost;
    expect(a.result()).toMatchObject({ kind: Msg.DVMA_GRANT, id: 1, base: 0x8000_0000 });
    // sent at 0 (the CPU time follows the send), answered 5 us after arriving, received
    expect(r.seen[0]!.t).toBe(lat);
    expect(a.end()).toBe(2 * lat + 5000 + rcv);
    expect([r.cpu.vcpuBusyNs(0), r.cpu.vcpuBusyNs(1)]).toEqual([0, snd + rcv]);
    expect(r.client.stats).toEqual({ sent: 1, received: 1, timeouts: 0, strayGrantsReleased: 0 });
  });

  test("silence: resent with the same id after each timeout, retries + 1 times, then null", () => {
    const r = rig(() => [], { retries: 2 });
    const m = message(Msg.DVMA_RELEASE, { devhandle: DH, base: 0x8000_0000, npages: 1 });
    const a = r.run(r.client.ask(m));
    r.sim.run(1e10);
    const { ldcLatencyNs: lat, ldcSendCpuNs: snd, ldcTimeoutNs: to } = r.cost;
    expect(a.result()).toBeNull();
    expect(r.seen.map((s) => [s.m.id, s.t])).toEqual([
      [1, lat],
      [1, snd + to + lat],
      [1, 2 * (snd + to) + lat],
    ]);
    expect(a.end()).toBe(3 * (snd + to));
    expect(r.client.stats).toMatchObject({ sent: 3, timeouts: 3, received: 0 });
  });

  test("a persistent ask keeps resending, each wait doubling past the retries up to 64 timeouts", () => {
    let answerAt = 12;
    const r = rig(
      (m, n) => (n === answerAt ? [{ m: message(Msg.RELEASE_ACK, { id: m.id }) }] : []),
      {
        retries: 1,
      },
    );
    const m = message(Msg.DVMA_RELEASE, { devhandle: DH, base: 0x8000_0000, npages: 1 });
    const a = r.run(r.client.ask(m, true));
    r.sim.run(1e12);
    expect(a.result()).toMatchObject({ kind: Msg.RELEASE_ACK });
    const { ldcSendCpuNs: snd, ldcTimeoutNs: to } = r.cost;
    const gaps = r.seen.slice(1).map((s, i) => (s.t - r.seen[i]!.t - snd) / to);
    expect(gaps).toEqual([1, 1, 2, 4, 8, 16, 32, 64, 64, 64, 64]);
    expect(r.client.stats.timeouts).toBe(11);
    answerAt = 0;
  });

  test("a given-up request is chased in the background until its reply comes; that grant goes back", () => {
    let answer = false;
    const r = rig(
      (m) => {
        if (m.kind === Msg.DVMA_RELEASE) return [{ m: message(Msg.RELEASE_ACK, { id: m.id }) }];
        return answer ? [{ m: { ...grantFor(m, 0x8000_4000, 2), grant: 9 } }] : [];
      },
      { retries: 0 },
    );
    const a = r.run(r.client.ask(req()));
    const { ldcLatencyNs: lat, ldcSendCpuNs: snd, ldcTimeoutNs: to } = r.cost;
    r.sim.run(snd + to + 1);
    expect(a.result()).toBeNull();
    // chase: resent at once, then after 1, 2, 4 ... timeouts
    r.sim.run(snd + to + 7 * to + lat + 1);
    expect(r.seen.map((s) => (s.t - lat - snd - to) / to)).toEqual([-(snd + to) / to, 0, 1, 3, 7]);
    expect(r.client.stats.sent).toBe(5);
    answer = true;
    r.sim.run(1e12);
    expect(r.seen.filter((s) => s.m.kind === Msg.DVMA_REQ).length).toBe(6);
    const back = r.seen.filter((s) => s.m.kind === Msg.DVMA_RELEASE);
    expect(back.map((s) => [s.m.devhandle, s.m.base, s.m.npages, s.m.grant])).toEqual([
      [DH, 0x8000_4000, 2, 9],
    ]);
    expect(r.client.stats.strayGrantsReleased).toBe(1);
    expect(r.sim.pending).toBe(0);
  });

  test("no chase for anything but a request, nor for a dead guest; a dead guest sends nothing", () => {
    const r = rig(() => [], { retries: 0 });
    r.run(r.client.ask(message(Msg.VER_INFO)));
    r.sim.run(1e12);
    expect(r.seen.length).toBe(1);
    const d = rig(() => [], { retries: 3 });
    const a = d.run(d.client.ask(req()));
    d.sim.run(d.cost.ldcSendCpuNs + d.cost.ldcTimeoutNs + 1);
    d.state.alive = false;
    d.sim.run(1e12);
    expect(a.result()).toBeNull();
    expect(d.seen.length).toBe(2);
    expect(d.sim.pending).toBe(0);
    const dead = rig(() => []);
    dead.state.alive = false;
    const b = dead.run(dead.client.ask(req()));
    dead.sim.run(1e12);
    expect([b.result(), dead.seen.length, b.end()]).toEqual([null, 0, 0]);
  });

  test("a chase stops when the guest dies", () => {
    const r = rig(() => [], { retries: 0 });
    r.run(r.client.ask(req()));
    r.sim.run(10 * r.cost.ldcTimeoutNs);
    const n = r.seen.length;
    r.state.alive = false;
    r.sim.run(1e12);
    expect(r.seen.length).toBeLessThanOrEqual(n + 1);
    expect(r.sim.pending).toBe(0);
  });

  test("a channel that refuses the packet ends the ask at once", () => {
    const r = rig(() => []);
    r.channel.reset("test", BROKER);
    const a = r.run(r.client.ask(req()));
    r.sim.run(1e12);
    expect([a.result(), a.end(), r.client.stats.sent]).toEqual([null, 0, 0]);
  });

  test("a full queue is retried after one latency", () => {
    const r = rig((m) => (m.kind === Msg.DVMA_REQ ? [{ m: grantFor(m) }] : []), {
      queueEntries: 1,
    });
    expect(r.channel.send(GUEST, encode(message(Msg.VER_INFO, { id: 99 })))).toBe(HV.EOK);
    const a = r.run(r.client.ask(req()));
    r.sim.run(1e9);
    expect(a.result()).toMatchObject({ kind: Msg.DVMA_GRANT });
    expect(r.seen.map((s) => [s.m.id, s.t])).toEqual([
      [99, r.cost.ldcLatencyNs],
      [1, 2 * r.cost.ldcLatencyNs],
    ]);
    expect(r.client.stats.sent).toBe(1);
  });

  test("duplicates: the first reply is taken; a duplicate grant is ignored; a second range goes back", () => {
    const r = rig((m) => {
      if (m.kind === Msg.DVMA_RELEASE) return [{ m: message(Msg.RELEASE_ACK, { id: m.id }) }];
      return [
        { m: grantFor(m, 0x8000_0000) },
        { m: grantFor(m, 0x8000_0000) }, // the same instant: the asker has not run yet
        { m: grantFor(m, 0x8000_0000), delay: 10 },
        { m: grantFor(m, 0x8000_0000), delay: 1e8 },
        { m: grantFor(m, 0x8001_0000), delay: 2e8 },
        { m: grantFor(m, 0x8000_0000), delay: 3e8 }, // still the taken one, after the stray
      ];
    });
    const a = r.run(r.client.ask(req()));
    r.sim.run(1e12);
    expect(a.result()).toMatchObject({ base: 0x8000_0000 });
    const back = r.seen.filter((s) => s.m.kind === Msg.DVMA_RELEASE);
    expect(back.map((s) => s.m.base)).toEqual([0x8001_0000]);
    expect(r.client.stats).toMatchObject({ received: 7, strayGrantsReleased: 1 });
  });

  test("a stray grant's release is resent until the broker acknowledges it", () => {
    let releases = 0;
    const r = rig(
      (m) => {
        if (m.kind !== Msg.DVMA_RELEASE) return [];
        releases++;
        return releases >= 5 ? [{ m: message(Msg.RELEASE_ACK, { id: m.id }) }] : [];
      },
      { retries: 2 },
    );
    r.channel.send(BROKER, encode(grantFor(message(Msg.DVMA_REQ, { id: 9 }), 0x8000_2000, 1)));
    r.sim.run(1e12);
    expect(releases).toBe(5);
    expect(r.sim.pending).toBe(0);
  });

  test("a grant for an id never asked is a stray and goes back, once; other strays are dropped", () => {
    const r = rig((m) =>
      m.kind === Msg.DVMA_RELEASE ? [{ m: message(Msg.RELEASE_ACK, { id: m.id }) }] : [],
    );
    const stray = grantFor(message(Msg.DVMA_REQ, { id: 500 }), 0x8000_2000, 3);
    r.channel.send(BROKER, encode(stray));
    r.channel.send(BROKER, encode(stray));
    r.channel.send(BROKER, encode(message(Msg.DVMA_NACK, { id: 501 })));
    const junk = encode(stray);
    junk[3] = 1;
    r.channel.send(BROKER, junk);
    r.sim.run(1e12);
    const back = r.seen.filter((s) => s.m.kind === Msg.DVMA_RELEASE);
    expect(back.map((s) => [s.m.base, s.m.npages])).toEqual([[0x8000_2000, 3]]);
    expect(r.client.stats).toMatchObject({ received: 5, strayGrantsReleased: 1 });
    const dead = rig(() => []);
    dead.state.alive = false;
    dead.channel.send(BROKER, encode(stray));
    dead.sim.run(1e12);
    expect([dead.seen.length, dead.client.stats.strayGrantsReleased]).toEqual([0, 0]);
  });

  test("a release names the grant taken at its base, once; a request answered stale is a refusal", () => {
    const r = rig((m) =>
      m.kind === Msg.DVMA_REQ
        ? [{ m: { ...grantFor(m, 0x8000_0000 + m.id * 0x4000), grant: 40 + m.id } }]
        : [{ m: message(Msg.RELEASE_ACK, { id: m.id, grant: m.grant }) }],
    );
    const ask = (m: Message) => {
      const a = r.run(r.client.ask(m, m.kind === Msg.DVMA_RELEASE));
      r.sim.run(r.sim.now + 1e9);
      return a.result()!;
    };
    expect(ask(req())).toMatchObject({ kind: Msg.DVMA_GRANT, base: 0x8000_4000, grant: 41 });
    expect(ask(req())).toMatchObject({ kind: Msg.DVMA_GRANT, base: 0x8000_8000, grant: 42 });
    const rel = (base: number, grant = 0) =>
      message(Msg.DVMA_RELEASE, { devhandle: DH, base, npages: 2, grant });
    // The second grant first, then the first; a second release of a base names nothing; another
    // root complex's window at the same address is another grant; a number given is kept.
    for (const m of [rel(0x8000_8000), rel(0x8000_4000), rel(0x8000_4000), rel(0x8000_8000, 7)])
      ask(m);
    ask({ ...rel(0x8000_8000), devhandle: DH + 1 });
    const released = r.seen.filter((s) => s.m.kind === Msg.DVMA_RELEASE);
    expect(released.map((s) => [s.m.devhandle, s.m.base, s.m.grant])).toEqual([
      [DH, 0x8000_8000, 42],
      [DH, 0x8000_4000, 41],
      [DH, 0x8000_4000, 0],
      [DH, 0x8000_8000, 7],
      [DH + 1, 0x8000_8000, 0],
    ]);
    // A release answered with any reason, stale included, is done: it is not sent again.
    const stale = (m: Message) =>
      m.kind === Msg.DVMA_RELEASE
        ? message(Msg.RELEASE_ACK, { id: m.id, reason: "stale" })
        : message(Msg.DVMA_NACK, { id: m.id, reason: "stale" });
    const s = rig((m) => [{ m: stale(m) }]);
    const a = s.run(s.client.ask(rel(0x8000_0000), true));
    s.sim.run(1e9);
    expect(a.result()).toMatchObject({ kind: Msg.RELEASE_ACK, id: 1, reason: "stale" });
    expect(s.seen).toHaveLength(1);
    const q = rig((m) => [{ m: stale(m) }]);
    const b = q.run(q.client.ask(req()));
    q.sim.run(1e9);
    expect(b.result()).toMatchObject({ kind: Msg.DVMA_NACK, id: 1, reason: "stale" });
    expect(q.seen).toHaveLength(1);
  });

  test("taken grants are remembered for the last 4,096 ids only", () => {
    const r = rig((m) =>
      m.kind === Msg.DVMA_RELEASE ? [{ m: message(Msg.RELEASE_ACK, { id: m.id }) }] : [],
    );
    const remember = (r.client as unknown as { remember(id: number, base: number): void }).remember;
    for (let id = 1; id <= 4097; id++) remember.call(r.client, id, 0x8000_0000 + id * 0x2000);
    // late duplicates of id 2 (remembered: ignored) and id 1 (forgotten: a stray)
    for (const id of [2, 1])
      r.channel.send(
        BROKER,
        encode(grantFor(message(Msg.DVMA_REQ, { id }), 0x8000_0000 + id * 0x2000, 1)),
      );
    r.sim.run(1e12);
    expect(r.client.stats.strayGrantsReleased).toBe(1);
    const back = r.seen.filter((s) => s.m.kind === Msg.DVMA_RELEASE);
    expect(back.map((s) => s.m.base)).toEqual([0x8000_2000]);
  });
});
