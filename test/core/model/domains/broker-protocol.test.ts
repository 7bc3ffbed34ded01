// The broker spoken to packet by packet: every reply's kind, fields and time, every refusal's
// reason, the counters, the hypervisor's ownership table, crashes and restarts, and the control
// domain's own grants.
import { describe, expect, test } from "bun:test";
import { checkGlobalPolicy } from "../../../../core/model/domains/checked-global.ts";
import { Platform } from "../../../../core/model/domains/platform.ts";
import type { GlobalPolicy } from "../../../../core/model/domains/policy.ts";
import {
  decode,
  encode,
  type Message,
  Msg,
  message,
} from "../../../../core/model/domains/protocol.ts";
import { EventBus } from "../../../../core/model/events/bus.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { parseCostModel } from "../../../../core/model/machine/parse.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
import bitmapNextFit, {
  BitmapNextFitPolicy,
} from "../../../../plugins/policies/bitmap-next-fit.ts";
import { FirstFitPolicy } from "../../../../plugins/policies/first-fit.ts";
import { smallMachine, WINDOW_BASE } from "../../../helpers/small-machine.ts";

void bitmapNextFit;
const DH = 0x200;
const PAGE = 8192;
const cost = parseCostModel({});
const LAT = cost.ldcLatencyNs;
/** What a request costs the broker besides its policy and hypercalls. */
const FIXED = cost.ldcRecvCpuNs + cost.brokerRequestCpuNs + cost.ldcSendCpuNs;

type Maker = (dh: number, windowPages: number) => GlobalPolicy;

/** A machine whose guest 1 speaks raw packets to the broker and records every reply. */
function rig(
  opts: { policy?: Maker; queueEntries?: number; guests?: number; noBus?: boolean } = {},
) {
  const sim = new Simulator();
  const bus = new EventBus(() => sim.now);
  const policy =
    opts.policy ?? ((_dh, w) => checkGlobalPolicy("first-fit", new FirstFitPolicy(w), w));
  const platform = new Platform({
    md: smallMachine({ guests: opts.guests ?? 2, windowPages: 64 }),
    cost,
    seed: 1,
    sim,
    bus: opts.noBus ? undefined : bus,
    globalPolicy: (dh, w) => policy(dh, w),
    localPolicy: (_g, _dh, w) => new BitmapNextFitPolicy(w),
    ldc: { queueEntries: opts.queueEntries ?? 128 },
  });
  const { hv, broker } = platform;
  const g = platform.guests[0]!;
  const replies: { t: number; m: Message | null }[] = [];
  g.channel.onReceive(g.id, (pkt) => replies.push({ t: sim.now, m: decode(pkt) }));
  const nacks: unknown[] = [];
  bus.on("dvma.nack", (e) => nacks.push({ domain: e.domain, id: e.id, reason: e.reason }));
  const errors: unknown[] = [];
  bus.on("plugin.error", (e) => errors.push({ plugin: e.plugin, hook: e.hook }));
  const send = (m: Message) => {
    const t = sim.now;
    expect(g.channel.send(g.id, encode(m))).toBe(HV.EOK);
    return t;
  };
  /** Sends `m`, runs until quiet, and returns its one reply and when it came. */
  const ask = (m: Message) => {
    const n = replies.length;
    const t = send(m);
    sim.run(sim.now + 1e8);
    expect(replies.length).toBe(n + 1);
    const r = replies[n]!;
    return { m: r.m!, dt: r.t - t };
  };
  const hello = () => ask(message(Msg.VER_INFO, { id: 1 }));
  const io = hv.iommus.get(DH)!;
  const owners = () => [...io.entryOwner.slice(0, 16)];
  return { sim, platform, hv, broker, g, replies, send, ask, hello, nacks, errors, owners };
}

const req = (id: number, npages: number, align = 1, devhandle = DH) =>
  message(Msg.DVMA_REQ, { id, devhandle, npages, align });
const rel = (id: number, index: number, npages: number, grant = 1, devhandle = DH) =>
  message(Msg.DVMA_RELEASE, { id, devhandle, base: WINDOW_BASE + index * PAGE, npages, grant });

describe("broker: version handshake", () => {
  test("our major is acked with the lower minor; another major is nacked and grants nothing", () => {
    const r = rig();
    const ack = r.ask(message(Msg.VER_INFO, { id: 7, minor: 3 }));
    expect(ack.m).toMatchObject({ kind: Msg.VER_ACK, id: 7, major: 2, minor: 0 });
    expect(ack.dt).toBe(2 * LAT + FIXED);
    const other = rig();
    const nack = other.ask(message(Msg.VER_INFO, { id: 8, major: 1 }));
    expect(nack.m).toMatchObject({ kind: Msg.VER_NACK, id: 8 });
    expect(other.ask(req(9, 1)).m).toMatchObject({ kind: Msg.DVMA_NACK, reason: "no-handshake" });
    expect(other.nacks).toEqual([{ domain: 1, id: 9, reason: "no-handshake" }]);
  });
});

describe("broker: stale requests", () => {
  test("a resend whose reply was pushed out of the cache is refused stale, counted once", () => {
    const r = rig();
    r.hello();
    // 150 grants of page 0, each given back: 300 replies push the first grant's out of the cache.
    for (let k = 0; k < 150; k++) {
      expect(r.ask(req(2 + 2 * k, 1)).m).toMatchObject({ kind: Msg.DVMA_GRANT, grant: k + 1 });
      expect(r.ask(rel(3 + 2 * k, 0, 1, k + 1)).m).toMatchObject({ kind: Msg.RELEASE_ACK });
    }
    expect(r.broker.stats.stale).toBe(0);
    expect(r.ask(req(2, 1)).m).toMatchObject({ kind: Msg.DVMA_NACK, id: 2, reason: "stale" });
    expect(r.broker.stats.stale).toBe(1);
    expect(r.owners()[0]).toBe(-1); // nothing granted for it
    // A fresh id is served as usual and is not counted.
    expect(r.ask(req(400, 1)).m).toMatchObject({ kind: Msg.DVMA_GRANT, grant: 151 });
    expect(r.broker.stats.stale).toBe(1);
  });
});

describe("broker: requests", () => {
  test("a grant names the range; the hypervisor and the ledger record it; it costs its hypercall", () => {
    const r = rig();
    r.hello();
    const a = r.ask(req(2, 3));
    expect(a.m).toEqual({
      kind: Msg.DVMA_GRANT,
      major: 2,
      minor: 0,
      id: 2,
      devhandle: DH,
      base: WINDOW_BASE,
      npages: 3,
      align: 1,
      grant: 1,
      reason: "",
    });
    expect(a.dt).toBeGreaterThan(2 * LAT + FIXED);
    const b = r.ask(req(3, 2, 4));
    expect([b.m.kind, b.m.base, b.m.npages, b.m.grant]).toEqual([
      Msg.DVMA_GRANT,
      WINDOW_BASE + 4 * PAGE,
      2,
      2,
    ]);
    expect(r.owners()).toEqual([1, 1, 1, -1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]);
    expect(r.broker.grantsOf(1, DH)).toEqual([
      { base: 0, npages: 3 },
      { base: 4, npages: 2 },
    ]);
    expect(r.broker.grantsOf(2, DH)).toEqual([]);
    expect(r.broker.grantsOf(1, 0x300)).toEqual([]);
    expect(r.broker.grantsOf(9, DH)).toEqual([]);
    expect(r.broker.stats).toMatchObject({ requests: 2, grants: 2, nacks: 0, replays: 0 });
  });

  test("bad requests are nacked with their reason, the request echoed, and counted", () => {
    const r = rig();
    r.hello();
    const cases: [Message, string][] = [
      [req(10, 1, 1, 0x300), "bad-devhandle"],
      [req(11, 0), "bad-npages"],
      [req(12, 65), "bad-npages"],
      [req(13, 1, 0), "bad-align"],
      [req(14, 1, 3), "bad-align"],
      [req(15, 1, 6), "bad-align"],
    ];
    for (const [m, reason] of cases) {
      const a = r.ask(m);
      expect(a.m).toMatchObject({
        kind: Msg.DVMA_NACK,
        id: m.id,
        devhandle: m.devhandle,
        npages: m.npages,
        base: 0,
        reason,
      });
      expect(a.dt).toBe(2 * LAT + FIXED);
    }
    expect(r.nacks).toEqual(cases.map(([m, reason]) => ({ domain: 1, id: m.id, reason })));
    expect(r.broker.stats).toMatchObject({ requests: 6, nacks: 6, grants: 0 });
    expect(r.owners().every((o) => o === -1)).toBe(true);
    // the whole window, aligned as far as it goes, is a good request
    expect(r.ask(req(16, 64, 64)).m).toMatchObject({ kind: Msg.DVMA_GRANT, base: WINDOW_BASE });
  });

  test("a policy's refusal is the nack's reason; a broken policy is a policy-error", () => {
    const r = rig();
    r.hello();
    expect(r.ask(req(2, 60)).m.kind).toBe(Msg.DVMA_GRANT);
    const full = r.ask(req(3, 8));
    // the policy's own words, cut to the reason field's 24 bytes
    expect(full.m).toMatchObject({ kind: Msg.DVMA_NACK, reason: "no free range of 8 pages" });
    expect(r.nacks).toEqual([
      { domain: 1, id: 3, reason: expect.stringMatching(/^no free range of 8 pages aligned/) },
    ]);
    const broken = rig({
      policy: () => ({
        grant: () => {
          throw new Error("no");
        },
        revoke() {},
        reclaim() {},
        restore() {},
      }),
    });
    broken.hello();
    expect(broken.ask(req(2, 1)).m).toMatchObject({ kind: Msg.DVMA_NACK, reason: "policy-error" });
    expect(broken.broker.stats.policyErrors).toBe(1);
  });

  test("a grant the hypervisor refuses is nacked and the policy takes the range back", () => {
    const r = rig();
    r.hello();
    // pages 0..1 go to guest 2 behind the broker's back
    expect(r.hv.dvmaGrant(0, 2, DH, WINDOW_BASE, 2)).toBe(HV.EOK);
    const a = r.ask(req(2, 2));
    expect(a.m).toMatchObject({ kind: Msg.DVMA_NACK, reason: "hv-refused", npages: 2 });
    expect(r.broker.grantsOf(1, DH)).toEqual([]);
    expect(r.broker.stats).toMatchObject({ grants: 0, nacks: 1 });
    // the policy had the range back: the next request gets the same pages offered again
    expect(r.hv.dvmaRevoke(0, 2, DH, WINDOW_BASE, 2)).toBe(HV.EOK);
    expect(r.ask(req(3, 2)).m).toMatchObject({ kind: Msg.DVMA_GRANT, base: WINDOW_BASE });
  });

  test("a resent request is answered from the cache, the same reply, at the fixed cost only", () => {
    const r = rig();
    r.hello();
    const first = r.ask(req(5, 4));
    const again = r.ask(req(5, 4));
    expect(again.m).toEqual(first.m);
    expect(again.dt).toBe(2 * LAT + FIXED);
    expect(r.broker.stats).toMatchObject({ requests: 2, grants: 1, replays: 1 });
    expect(r.broker.grantsOf(1, DH)).toEqual([{ base: 0, npages: 4 }]);
  });

  test("packets that are not requests are invalid and answered with nothing", () => {
    const r = rig();
    r.hello();
    const junk = encode(req(3, 1));
    junk[3] = 9;
    r.g.channel.send(r.g.id, junk);
    r.send(message(Msg.VER_ACK, { id: 4 }));
    r.send(message(Msg.DVMA_GRANT, { id: 5 }));
    r.sim.run(r.sim.now + 1e8);
    expect(r.replies.length).toBe(1);
    expect(r.broker.stats.invalid).toBe(3);
    expect(r.broker.stats.requests).toBe(0);
  });
});

describe("broker: releases", () => {
  test("a release revokes the grant it names in the hypervisor and the ledger and is acked; its resend is replayed", () => {
    const r = rig();
    r.hello();
    r.ask(req(2, 1));
    r.ask(req(3, 2));
    r.ask(req(4, 1));
    const a = r.ask(rel(5, 1, 2, 2));
    expect(a.m).toEqual({
      kind: Msg.RELEASE_ACK,
      major: 2,
      minor: 0,
      id: 5,
      devhandle: DH,
      base: WINDOW_BASE + PAGE,
      npages: 2,
      align: 1,
      grant: 2,
      reason: "",
    });
    expect(a.dt).toBeGreaterThan(2 * LAT + FIXED);
    expect(r.owners().slice(0, 5)).toEqual([1, -1, -1, 1, -1]);
    expect(r.broker.grantsOf(1, DH)).toEqual([
      { base: 0, npages: 1 },
      { base: 3, npages: 1 },
    ]);
    const again = r.ask(rel(5, 1, 2, 2));
    expect(again.m).toEqual(a.m);
    expect(again.dt).toBe(2 * LAT + FIXED);
    expect(r.broker.stats).toMatchObject({ releases: 1, replays: 1 });
    // Sent again under another id (its reply no longer kept), it finds its grant gone: nothing.
    expect(r.ask(rel(6, 1, 2, 2)).m).toMatchObject({ grant: 2, reason: "not-granted" });
    expect(r.broker.stats.releases).toBe(1);
  });

  test("a release of what the guest does not hold is refused and changes nothing", () => {
    const r = rig();
    r.hello();
    expect(r.ask(rel(9, 0, 2)).m).toMatchObject({ reason: "not-granted" }); // nothing granted yet
    r.ask(req(2, 2));
    // Grant 1 is pages 0..1: more pages, fewer, another start, another number, another root complex.
    const cases: [Message, string][] = [
      [rel(3, 0, 3), "not-granted"],
      [rel(4, 0, 1), "not-granted"],
      [rel(5, 1, 1), "not-granted"],
      [rel(6, 0, 2, 2), "not-granted"],
      [rel(7, 0, 2, 0), "not-granted"],
      [rel(8, 0, 2, 1, 0x300), "bad-devhandle"],
    ];
    for (const [m, reason] of cases) {
      const a = r.ask(m);
      expect(a.m).toMatchObject({ kind: Msg.RELEASE_ACK, id: m.id, base: m.base, reason });
      expect(a.dt).toBe(2 * LAT + FIXED);
    }
    expect(r.broker.stats.releases).toBe(0);
    expect(r.owners().slice(0, 3)).toEqual([1, 1, -1]);
  });
});

describe("broker: deaths, crashes and restarts", () => {
  test("a guest's death takes back all it held and forgets its handshake", () => {
    const r = rig();
    r.hello();
    r.ask(req(2, 2));
    r.ask(req(3, 3));
    expect(r.broker.numberedGrantsOf(1, DH)).toEqual([
      { base: 0, npages: 2 },
      { base: 2, npages: 3 },
    ]);
    r.hv.killDomain(1, "test");
    r.sim.run(r.sim.now + 1e8);
    expect(r.broker.grantsOf(1, DH)).toEqual([]);
    expect(r.broker.numberedGrantsOf(1, DH)).toEqual([]);
    expect(r.owners().every((o) => o === -1)).toBe(true);
    expect(r.broker.stats.reclaims).toBe(1);
  });

  test("a crashed broker answers nothing; a restart rebuilds the ledger and the policy from the hypervisor", () => {
    const r = rig();
    r.hello();
    r.ask(req(2, 2));
    const other = r.platform.guests[1]!;
    expect(r.hv.dvmaGrant(0, other.id, DH, WINDOW_BASE + 8 * PAGE, 4)).toBe(HV.EOK);
    r.broker.crash();
    expect(r.broker.isUp).toBe(false);
    expect(r.broker.grantsOf(1, DH)).toEqual([]);
    r.send(req(3, 1));
    r.sim.run(r.sim.now + 1e8);
    expect(r.replies.length).toBe(2);
    expect(r.broker.stats.requests).toBe(1);
    r.broker.restart();
    expect(r.broker.isUp).toBe(true);
    expect(r.broker.stats.restarts).toBe(1);
    expect(r.broker.grantsOf(1, DH)).toEqual([{ base: 0, npages: 2 }]);
    expect(r.broker.grantsOf(other.id, DH)).toEqual([{ base: 8, npages: 4 }]);
    // sessions survive: no new handshake; the restored policy does not grant held pages again
    const a = r.ask(req(4, 6));
    expect([a.m.kind, a.m.base]).toEqual([Msg.DVMA_GRANT, WINDOW_BASE + 2 * PAGE]);
    const b = r.ask(req(5, 4));
    expect([b.m.kind, b.m.base]).toEqual([Msg.DVMA_GRANT, WINDOW_BASE + 12 * PAGE]);
  });

  test("a guest that died while the broker was down is reclaimed at the restart", () => {
    const r = rig();
    r.hello();
    r.ask(req(2, 2));
    r.broker.crash();
    r.hv.killDomain(1, "test");
    r.sim.run(r.sim.now + 1e8);
    expect(r.broker.stats.reclaims).toBe(0);
    expect(r.owners().slice(0, 2)).toEqual([1, 1]);
    r.broker.restart();
    r.sim.run(r.sim.now + 1e8);
    expect(r.broker.stats.reclaims).toBe(1);
    expect(r.owners().every((o) => o === -1)).toBe(true);
    expect(r.broker.grantsOf(1, DH)).toEqual([]);
  });
});

describe("broker: the control domain's own grants", () => {
  test("grantSelf takes from the same policy and hypervisor ledger; releaseSelf gives back", () => {
    const r = rig();
    r.hello();
    r.ask(req(2, 2));
    expect(r.broker.grantSelf(DH, 3, 1)).toBe(2);
    expect(r.broker.grantsOf(0, DH)).toEqual([{ base: 2, npages: 3 }]);
    expect(r.owners().slice(0, 6)).toEqual([1, 1, 0, 0, 0, -1]);
    expect(r.broker.grantSelf(0x300, 1, 1)).toBe(-1);
    expect(r.broker.grantSelf(DH, 64, 1)).toBe(-1);
    r.broker.releaseSelf(DH, 2, 3);
    expect(r.broker.grantsOf(0, DH)).toEqual([]);
    expect(r.owners().slice(0, 6)).toEqual([1, 1, -1, -1, -1, -1]);
    r.broker.crash();
    expect(r.broker.grantSelf(DH, 1, 1)).toBe(-1);
    expect(r.broker.policyOf(DH)).toBeUndefined();
    r.broker.restart();
    expect(r.broker.policyOf(DH)).toBeDefined();
    expect(r.broker.grantSelf(DH, 1, 1)).toBe(2);
  });

  test("a self grant the hypervisor refuses gives the range back to the policy", () => {
    const r = rig();
    expect(r.hv.dvmaGrant(0, 2, DH, WINDOW_BASE, 1)).toBe(HV.EOK);
    expect(r.broker.grantSelf(DH, 1, 1)).toBe(-1);
    expect(r.hv.dvmaRevoke(0, 2, DH, WINDOW_BASE, 1)).toBe(HV.EOK);
    expect(r.broker.grantSelf(DH, 1, 1)).toBe(0);
  });
});

describe("broker: replies under back-pressure", () => {
  test("a full queue to the guest delays the reply instead of dropping it", () => {
    const r = rig({ queueEntries: 1 });
    r.hello();
    const t0 = r.send(req(2, 1));
    // the resend reaches the broker after the first; its replay is ready while the grant's
    // reply is still on the wire, and waits for the queue instead of being dropped
    r.sim.run(t0 + LAT + 1);
    r.send(req(2, 1));
    r.sim.run(r.sim.now + 1e8);
    expect(r.replies.map((x) => x.m?.kind)).toEqual([Msg.VER_ACK, Msg.DVMA_GRANT, Msg.DVMA_GRANT]);
    expect(r.replies[2]!.t - r.replies[1]!.t).toBeGreaterThanOrEqual(LAT);
    expect(r.broker.stats).toMatchObject({ grants: 1, replays: 1 });
  });
});

describe("broker: what it costs and what it says when things go wrong", () => {
  const throwing =
    (hook: string): Maker =>
    (_dh, w) => {
      const p = new FirstFitPolicy(w);
      return Object.assign(Object.create(p), {
        [hook]: () => {
          throw new Error(`${hook} broke`);
        },
      });
    };

  test("a nack without an event bus", () => {
    const r = rig({ noBus: true });
    expect(r.ask(req(1, 1)).m).toMatchObject({ kind: Msg.DVMA_NACK, reason: "no-handshake" });
  });

  test("the control domain's own grant names the hook that broke; a refusal is not a policy error", () => {
    const r = rig({ policy: throwing("grant") });
    expect(r.broker.grantSelf(DH, 1, 1)).toBe(-1);
    expect(r.errors).toEqual([{ plugin: "global-policy", hook: "grant" }]);
    // behind the checks, a policy that broke is asked nothing more
    const checked = rig({
      policy: (dh, w) => checkGlobalPolicy("ff", throwing("grant")(dh, w), w),
    });
    expect(checked.broker.grantSelf(DH, 1, 1)).toBe(-1);
    expect(checked.broker.stats.policyErrors).toBe(1);
    const full = rig();
    expect(full.broker.grantSelf(DH, 64, 1)).toBe(0);
    expect(full.broker.grantSelf(DH, 1, 1)).toBe(-1);
    expect(full.broker.stats.policyErrors).toBe(0);
    const rv = rig({ policy: throwing("revoke") });
    expect(rv.hv.dvmaGrant(0, 2, DH, WINDOW_BASE, 1)).toBe(HV.EOK);
    expect(rv.broker.grantSelf(DH, 1, 1)).toBe(-1);
    expect(rv.errors).toEqual([{ plugin: "global-policy", hook: "revoke" }]);
  });

  test("giving back what the hypervisor does not show is a bug, named with the call", () => {
    const r = rig();
    expect(() => r.broker.releaseSelf(DH, 5, 2)).toThrow(
      /^ledger and hypervisor disagree: dvma_revoke\(0, 5\+2\) = \d+ \(release\)$/,
    );
  });

  test("a death's revokes and policy calls are charged to the control domain", () => {
    const r = rig();
    r.hello();
    r.ask(req(2, 2));
    r.ask(req(3, 3));
    const cpu = r.platform.controlCpu;
    const before = cpu.busyNs;
    r.hv.killDomain(1, "test");
    r.sim.run(r.sim.now + 1e8);
    // two revoke hypercalls, two policy revokes and one reclaim (100 ns each, unreported work)
    expect(cpu.busyNs - before).toBeGreaterThan(2 * cost.hcallTrapNs + 3 * cost.policyCallNs);
  });

  test("a restart's restores are charged to the control domain", () => {
    const r = rig();
    r.hello();
    r.ask(req(2, 2));
    r.broker.crash();
    const cpu = r.platform.controlCpu;
    const before = cpu.busyNs;
    r.broker.restart();
    r.sim.run(r.sim.now + 1e8);
    expect(cpu.busyNs - before).toBeGreaterThanOrEqual(cost.policyCallNs);
  });

  test("a crashed broker spends nothing on what arrives; a crash mid-request drops its reply", () => {
    const r = rig();
    r.hello();
    r.broker.crash();
    const cpu = r.platform.controlCpu;
    const before = cpu.busyNs;
    r.send(req(2, 1));
    r.sim.run(r.sim.now + 1e8);
    expect(cpu.busyNs).toBe(before);
    r.broker.restart();
    r.sim.run(r.sim.now + 1e8);
    const n = r.replies.length;
    const t0 = r.send(req(3, 1));
    r.sim.run(t0 + LAT + 100); // arrived, being served
    r.broker.crash();
    r.sim.run(r.sim.now + 1e8);
    expect(r.replies.length).toBe(n);
  });

  test("two requests served at once: each reply waits for its own work only", () => {
    const r = rig();
    r.hello();
    const g2 = r.platform.guests[1]!;
    const other: { t: number; m: Message | null }[] = [];
    g2.channel.onReceive(g2.id, (pkt) => other.push({ t: r.sim.now, m: decode(pkt) }));
    const t0 = r.sim.now;
    r.send(req(2, 4)); // guest 1: a grant, with its hypercall and policy call
    expect(g2.channel.send(g2.id, encode(req(1, 1)))).toBe(HV.EOK); // guest 2: no handshake
    r.sim.run(t0 + 1e8);
    // its own receive, request and send time; at most one policy call more (the window's calls
    // are replayed by whichever request settles first), and none of guest 1's hypercall
    expect(other.map((x) => x.m?.reason)).toEqual(["no-handshake"]);
    expect(other[0]!.t - t0).toBeGreaterThanOrEqual(2 * LAT + FIXED);
    expect(other[0]!.t - t0).toBeLessThanOrEqual(2 * LAT + FIXED + cost.policyCallNs);
    expect(r.replies.at(-1)!.t - t0).toBeGreaterThan(2 * LAT + FIXED);
  });
});
