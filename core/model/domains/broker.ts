import type { EventBus } from "../events/bus.ts";
import type { Hypervisor } from "../hv/hypervisor.ts";
import type { LdcChannel } from "../hv/ldc.ts";
import { HV } from "../hv/status.ts";
import type { CostModel } from "../machine/cost-model.ts";
import { ANY_VCPU, type DomainCpu } from "../machine/cpu.ts";
import { PAGE_SIZE } from "../machine/memory.ts";
import type { Proc, Simulator } from "../sim/kernel.ts";
import { GrantTable } from "./grants.ts";
import { type GlobalPolicy, isRefusal } from "./policy.ts";
import {
  decode,
  encode,
  type Message,
  Msg,
  message,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
  STALE,
} from "./protocol.ts";
import { RangeSet } from "./ranges.ts";
import { ReplyCache } from "./reply-cache.ts";
import { type GlobalPolicyMaker, WindowPolicies } from "./window-policies.ts";

/** Replies remembered per guest so a resent request gets the same answer (idempotence). */
const REPLY_CACHE = 256;

interface Session {
  /** null for the control domain's own grants, which need no negotiation. */
  channel: LdcChannel | null;
  versioned: boolean;
  /** id -> encoded reply. */
  replies: ReplyCache;
  /** Granted ranges per devhandle, in window page indices. */
  ledger: Map<number, RangeSet>;
  /** The guest's grants by number (a release names one); not the control domain's own. */
  grants: GrantTable;
}

export interface BrokerEnv {
  sim: Simulator;
  hv: Hypervisor;
  cpu: DomainCpu;
  cost: CostModel;
  bus?: EventBus;
  /** Makes the global policy of one root complex's window (already wrapped by the host's checks). */
  policy: GlobalPolicyMaker;
}

/**
 * The control domain's DVMA broker: owns allocation of every root complex's global window, serves
 * the negotiation protocol over one LDC channel per guest, records each grant in the hypervisor,
 * reclaims everything of a guest that dies, and can rebuild its ledger from the hypervisor's
 * ownership table after a restart.
 */
export class DvmaBroker {
  readonly id: number;
  private readonly sessions = new Map<number, Session>();
  /** The global policy of each window, and the record of its calls. */
  readonly policies: WindowPolicies;
  private up = true;
  /** The request being served: its CPU time so far and the replies it will send. */
  private work: { ns: number; out: [Session, Uint8Array][] } | undefined;
  /** CPU time spent outside a served request, not yet run on a strand. */
  private loose = 0;
  readonly stats = {
    requests: 0,
    grants: 0,
    nacks: 0,
    releases: 0,
    replays: 0,
    /** Requests refused as stale (see ReplyCache). */
    stale: 0,
    invalid: 0,
    reclaims: 0,
    restarts: 0,
    policyErrors: 0,
  };

  constructor(private readonly env: BrokerEnv) {
    this.id = env.hv.control.id;
    this.sessions.set(this.id, this.session(null, 0));
    this.policies = new WindowPolicies(env, () => this.stats.policyErrors++);
    this.policies.make();
    env.hv.onDeath((guest) => this.reclaim(guest));
  }

  /** Serves `guest` on `channel` (the control domain's end). */
  attach(guest: number, channel: LdcChannel): void {
    this.sessions.set(guest, this.session(channel, REPLY_CACHE));
    channel.onReceive(this.id, (pkt) => this.receive(guest, pkt));
  }

  /** A guest's session (the control domain's: no channel, no handshake, no replies kept). */
  private session(channel: LdcChannel | null, replies: number): Session {
    const ledger = new Map<number, RangeSet>();
    const cache = new ReplyCache(replies, this.env.hv, ledger);
    const grants = new GrantTable();
    return { channel, versioned: channel === null, replies: cache, ledger, grants };
  }

  /**
   * A grant for the control domain's own driver (the service-domain path): the same policy and
   * hypervisor ledger, no LDC. Returns the first page index, or -1.
   */
  grantSelf(devhandle: number, npages: number, align: number): number {
    const s = this.sessions.get(this.id)!;
    const io = this.env.hv.iommus.get(devhandle);
    if (!this.up || io === undefined) return -1;
    const got = this.policies.call(devhandle, "grant", (p) => p.grant(this.id, npages, align));
    if (got === undefined || isRefusal(got)) return -1;
    const base = io.windowBase + got * PAGE_SIZE;
    if (this.env.hv.dvmaGrant(this.id, this.id, devhandle, base, npages) !== HV.EOK) {
      this.policies.call(devhandle, "revoke", (p) => p.revoke(this.id, got, npages));
      return -1;
    }
    this.rangesOf(s, devhandle).add(got, npages);
    return got;
  }

  /** Gives back a range from grantSelf. */
  releaseSelf(devhandle: number, index: number, npages: number): void {
    this.revoke(this.id, devhandle, index, npages, "release");
  }

  /** Granted ranges of `guest` on `devhandle`, as window page indices. */
  grantsOf(guest: number, devhandle: number): readonly { base: number; npages: number }[] {
    return this.sessions.get(guest)?.ledger.get(devhandle)?.ranges ?? [];
  }

  /** The live grants of `guest` on `devhandle`, one by one: its ledger (not the control domain's). */
  numberedGrantsOf(guest: number, devhandle: number): { base: number; npages: number }[] {
    return this.sessions.get(guest)?.grants.rangesOf(devhandle) ?? [];
  }

  policyOf(devhandle: number): GlobalPolicy {
    return this.policies.get(devhandle)!;
  }

  /** On held control-domain vCPU `v`: the work done outside requests, then the policy calls. */
  *settle(v: number): Proc<number> {
    const ns = this.loose;
    this.loose = 0;
    if (ns > 0) yield ns;
    return yield* this.policies.replay(this.env.cpu, v);
  }

  /** Work done outside a served request (reclaim, rebuild) runs as a thread of its own. */
  private settleLater(): void {
    if (this.loose === 0 && !this.policies.pending) return;
    this.env.sim.spawn(this.settleThread(), "broker-settle");
  }

  private *settleThread(): Proc<void> {
    const v = yield* this.env.cpu.take(ANY_VCPU);
    this.env.cpu.free(yield* this.settle(v));
  }

  get isUp(): boolean {
    return this.up;
  }

  /** The broker process stops: ledger and policies are lost (the reply journal is not). */
  crash(): void {
    this.up = false;
    for (const s of this.sessions.values()) s.ledger.clear();
    this.policies.clear();
  }

  /** Restarts the broker and rebuilds ledger and policies from the hypervisor (dvma_info over each window). */
  restart(): void {
    this.stats.restarts++;
    this.policies.make();
    const { hv } = this.env;
    for (const io of hv.iommus.values()) {
      let index = 0;
      while (index < io.windowPages) {
        const st = hv.dvmaInfo(this.id, io.devhandle, io.windowBase + index * PAGE_SIZE);
        if (st !== HV.EOK) throw new Error(`dvma_info failed during ledger rebuild: status ${st}`);
        const [owner, run] = [hv.ret1, hv.ret2];
        const s = this.sessions.get(owner);
        if (owner >= 0 && s !== undefined) {
          this.rangesOf(s, io.devhandle).add(index, run);
          this.policies.call(io.devhandle, "restore", (p) => p.restore(owner, index, run));
        }
        index += run;
      }
    }
    for (const s of this.sessions.values()) s.versioned = true; // sessions survive; guests need not re-handshake
    this.up = true;
    // A guest that died while the broker was down still holds ranges in the hypervisor.
    for (const d of hv.domains) if (!d.alive) this.reclaim(d.id);
    this.settleLater();
  }

  /** Takes back every range `guest` holds (it died): revoke in the hypervisor, then free in the policy. */
  reclaim(guest: number): void {
    const s = this.sessions.get(guest);
    if (s === undefined || !this.up) return; // a crashed broker reclaims when it restarts
    this.stats.reclaims++;
    for (const [devhandle, set] of s.ledger) {
      for (const r of [...set.ranges]) this.revoke(guest, devhandle, r.base, r.npages, "death");
    }
    for (const dh of this.policies.devhandles())
      this.policies.call(dh, "reclaim", (p) => p.reclaim(guest));
    s.replies.clear();
    s.grants.clear();
    s.versioned = false;
    this.settleLater();
  }

  private rangesOf(s: Session, devhandle: number): RangeSet {
    let set = s.ledger.get(devhandle);
    if (set === undefined) s.ledger.set(devhandle, (set = new RangeSet()));
    return set;
  }

  private receive(guest: number, pkt: Uint8Array): void {
    if (!this.up) return; // a crashed broker answers nothing; guests time out and resend
    this.env.sim.spawn(this.serve(guest, pkt), "broker");
  }

  /**
   * One request on a control-domain strand: its CPU time (receive, policy, hypercalls, replies)
   * is spent before the replies leave, so the broker's load shows in latency and utilisation.
   */
  private *serve(guest: number, pkt: Uint8Array): Proc<void> {
    const { cpu, cost } = this.env;
    let v = yield* cpu.take(ANY_VCPU);
    const work = {
      ns: cost.ldcRecvCpuNs + cost.brokerRequestCpuNs,
      out: [] as [Session, Uint8Array][],
    };
    if (this.up) {
      this.work = work;
      const m = decode(pkt);
      const s = this.sessions.get(guest);
      if (m === null || s === undefined) this.stats.invalid++;
      else this.handle(guest, s, m);
      this.work = undefined;
    }
    yield work.ns;
    v = yield* this.settle(v);
    cpu.free(v);
    if (this.up) for (const [s, p] of work.out) this.transmit(s, p);
  }

  private handle(guest: number, s: Session, m: Message): void {
    switch (m.kind) {
      case Msg.VER_INFO:
        if (m.major === PROTOCOL_MAJOR) {
          s.versioned = true;
          this.reply(
            s,
            m.id,
            message(Msg.VER_ACK, { id: m.id, minor: Math.min(m.minor, PROTOCOL_MINOR) }),
          );
        } else this.reply(s, m.id, message(Msg.VER_NACK, { id: m.id }));
        return;
      case Msg.DVMA_REQ:
        this.request(guest, s, m);
        return;
      case Msg.DVMA_RELEASE:
        this.release(guest, s, m);
        return;
      default:
        this.stats.invalid++; // replies are never valid requests
    }
  }

  /** A resent request is answered from the reply cache, as the first time. */
  private replayed(s: Session, id: number): boolean {
    const cached = s.replies.get(id);
    if (cached === undefined) return false;
    this.stats.replays++;
    this.sendRaw(s, cached);
    return true;
  }

  /** A resend older than every reply kept, with none kept for it: refused, nothing done. */
  private isStale(s: Session, id: number): boolean {
    const stale = s.replies.stale(id);
    if (stale) this.stats.stale++;
    return stale;
  }

  private request(guest: number, s: Session, m: Message): void {
    this.stats.requests++;
    if (this.replayed(s, m.id)) return;
    const io = this.env.hv.iommus.get(m.devhandle);
    const policy = this.policies.get(m.devhandle);
    let reason = "";
    if (this.isStale(s, m.id)) reason = STALE;
    else if (!s.versioned) reason = "no-handshake";
    else if (io === undefined || policy === undefined) reason = "bad-devhandle";
    else if (!(m.npages >= 1 && m.npages <= io.windowPages)) reason = "bad-npages";
    else if (!(m.align >= 1 && (m.align & (m.align - 1)) === 0)) reason = "bad-align";
    if (reason === "" && io !== undefined && policy !== undefined) {
      const got = this.policies.call(m.devhandle, "grant", (p) =>
        p.grant(guest, m.npages, m.align),
      );
      if (got === undefined) reason = "policy-error";
      else if (isRefusal(got)) reason = got.refused;
      else {
        const base = io.windowBase + got * PAGE_SIZE;
        const st = this.env.hv.dvmaGrant(this.id, guest, m.devhandle, base, m.npages);
        this.spend(this.env.hv.lastCostNs);
        if (st !== HV.EOK) {
          this.policies.call(m.devhandle, "revoke", (p) => p.revoke(guest, got, m.npages));
          reason = "hv-refused";
        } else {
          this.rangesOf(s, m.devhandle).add(got, m.npages);
          this.stats.grants++;
          const { id, devhandle, npages } = m;
          const grant = s.grants.add(devhandle, got, npages);
          this.reply(s, id, message(Msg.DVMA_GRANT, { id, devhandle, base, npages, grant }));
          return;
        }
      }
    }
    this.stats.nacks++;
    if (this.env.bus?.wants("dvma.nack"))
      this.env.bus.emit("dvma.nack", { domain: guest, id: m.id, reason });
    this.reply(
      s,
      m.id,
      message(Msg.DVMA_NACK, { id: m.id, devhandle: m.devhandle, npages: m.npages, reason }),
    );
  }

  /**
   * A release acts only on the grant it names, while that grant is live: a release already served
   * (a resend whose reply is no longer kept) is answered and does nothing, however old its id.
   */
  private release(guest: number, s: Session, m: Message): void {
    if (this.replayed(s, m.id)) return;
    const { id, devhandle, base, npages, grant } = m;
    const io = this.env.hv.iommus.get(devhandle);
    const index = io === undefined ? -1 : (base - io.windowBase) / PAGE_SIZE;
    let reason = "";
    if (io === undefined) reason = "bad-devhandle";
    else if (!s.grants.take(grant, devhandle, index, npages)) reason = "not-granted";
    else {
      this.revoke(guest, devhandle, index, npages, "release");
      this.stats.releases++;
    }
    this.reply(s, id, message(Msg.RELEASE_ACK, { id, devhandle, base, npages, grant, reason }));
  }

  /** Revoke in the hypervisor first (demap + flush), then the ledger, then the policy. */
  private revoke(
    guest: number,
    devhandle: number,
    index: number,
    npages: number,
    why: string,
  ): void {
    const { hv } = this.env;
    const io = hv.iommus.get(devhandle)!;
    const st = hv.dvmaRevoke(this.id, guest, devhandle, io.windowBase + index * PAGE_SIZE, npages);
    this.spend(hv.lastCostNs);
    if (st !== HV.EOK)
      throw new Error(
        `ledger and hypervisor disagree: dvma_revoke(${guest}, ${index}+${npages}) = ${st} (${why})`,
      );
    const s = this.sessions.get(guest)!;
    this.rangesOf(s, devhandle).remove(index, npages);
    s.replies.released(devhandle, index, npages);
    this.policies.call(devhandle, "revoke", (p) => p.revoke(guest, index, npages));
  }

  private reply(s: Session, id: number, m: Message): void {
    const pkt = encode(m);
    s.replies.set(id, pkt);
    this.sendRaw(s, pkt);
  }

  /** Inside serve() the reply waits for the request's CPU time; elsewhere it leaves at once. */
  private sendRaw(s: Session, pkt: Uint8Array): void {
    if (s.channel === null) return;
    this.spend(this.env.cost.ldcSendCpuNs);
    if (this.work !== undefined) this.work.out.push([s, pkt]);
    else this.transmit(s, pkt);
  }

  private transmit(s: Session, pkt: Uint8Array): void {
    const st = s.channel!.send(this.id, pkt);
    // A full queue is retried shortly; a reset channel drops the reply (the guest resends).
    if (st === HV.EWOULDBLOCK)
      this.env.sim.schedule(this.env.cost.ldcLatencyNs, () => this.transmit(s, pkt));
  }

  /** Control-domain CPU time: added to the request being served, or to the next settle(). */
  private spend(ns: number): void {
    if (this.work !== undefined) this.work.ns += ns;
    else this.loose += ns;
  }
}
