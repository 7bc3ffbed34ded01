import type { LdcChannel } from "../hv/ldc.ts";
import { HV } from "../hv/status.ts";
import type { CostModel } from "../machine/cost-model.ts";
import type { DomainCpu } from "../machine/cpu.ts";
import type { Proc, Signal, Simulator } from "../sim/kernel.ts";
import {
  decode,
  encode,
  type Message,
  Msg,
  message,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
} from "./protocol.ts";

/** How a domain's DMA API gets DVMA: over LDC from the broker, or (the control domain) locally. */
export interface BrokerLink {
  handshake(): Proc<boolean>;
  /**
   * Sends a request and returns its reply, or null when none came. `persistent` (releases: DVMA
   * given back must reach the broker, or it leaks) keeps resending, backing off, while alive. The
   * asking thread runs on vCPU `cpu` while it sends and receives and holds no vCPU while it waits.
   */
  ask(m: Message, persistent?: boolean, cpu?: number): Proc<Message | null>;
}

/** Grants remembered as taken (id -> base); only recent ids can still see duplicates. */
const ACCEPTED_MEMORY = 4096;

/**
 * A guest's end of the negotiation: sends requests on its LDC channel, matches replies by id,
 * resends with the same id on timeout (the broker answers a resend idempotently), names in each
 * release the grant it returns, and gives back any grant that arrives for a request it has given
 * up on, so no DVMA leaks.
 */
export class BrokerClient implements BrokerLink {
  private readonly pending = new Map<number, Signal<Message | null>>();
  private readonly accepted = new Map<number, number>();
  /** Given-up requests still resent in the background (see chase). */
  private readonly chasing = new Set<number>();
  /** The number of each grant taken and not yet released: devhandle -> DVMA base -> grant. */
  private readonly held = new Map<number, Map<number, number>>();
  private nextId = 0;
  readonly stats = { sent: 0, received: 0, timeouts: 0, strayGrantsReleased: 0 };

  constructor(
    private readonly sim: Simulator,
    private readonly domain: number,
    private readonly channel: LdcChannel,
    private readonly cpu: DomainCpu,
    private readonly cost: CostModel,
    private readonly alive: () => boolean,
  ) {
    channel.onReceive(domain, (pkt) => this.receive(pkt));
  }

  /** Version handshake; true when the broker speaks our major version. */
  *handshake(): Proc<boolean> {
    const reply = yield* this.ask(
      message(Msg.VER_INFO, { major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR }),
    );
    return reply !== null && reply.kind === Msg.VER_ACK;
  }

  /**
   * Sends `m` with a fresh id and waits for its reply (null after every retry timed out). A
   * release that names no grant is given the number of the grant taken at its base. A request
   * answered STALE is a refusal like any other: the guest asks again as after any nack.
   */
  *ask(m: Message, persistent = false, vcpu = 0): Proc<Message | null> {
    const { sim, cost, channel, domain, cpu } = this;
    if (m.kind === Msg.DVMA_RELEASE && m.grant === 0) m.grant = this.takeHeld(m);
    const pkt = this.stamp(m);
    for (let attempt = 0; persistent || attempt <= cost.ldcRetries; attempt++) {
      if (!this.alive()) break;
      const sig = sim.signal<Message | null>();
      this.pending.set(m.id, sig);
      let st = channel.send(domain, pkt);
      while (st === HV.EWOULDBLOCK) {
        yield cost.ldcLatencyNs;
        st = channel.send(domain, pkt);
      }
      if (st !== HV.EOK) break;
      this.stats.sent++;
      yield* cpu.run(vcpu, cost.ldcSendCpuNs);
      // Past the usual retries (persistent only), the wait doubles up to 64 timeouts.
      const backoff = 2 ** Math.min(6, Math.max(0, attempt - cost.ldcRetries));
      const timer = sim.schedule(cost.ldcTimeoutNs * backoff, () => {
        if (!sig.triggered) sig.trigger(null);
      });
      const reply: Message | null = yield sig;
      sim.cancel(timer);
      if (reply !== null) {
        this.pending.delete(m.id);
        // Taken at once, so a duplicate arriving while the reply is processed is not a stray.
        if (reply.kind === Msg.DVMA_GRANT) this.take(m.id, reply);
        yield* cpu.run(vcpu, cost.ldcRecvCpuNs); // the interrupt and dequeue of the reply
        return reply;
      }
      this.stats.timeouts++;
    }
    this.pending.delete(m.id);
    // The broker may have granted a request whose every reply was lost: keep asking in the
    // background until it answers, so such a grant arrives (as a stray) and goes back.
    if (m.kind === Msg.DVMA_REQ && this.alive()) sim.spawn(this.chase(m.id, pkt), "dvma-chase");
    return null;
  }

  /** Gives `m` the next id (32 bits on the wire: they wrap, skipping 0) and encodes it. */
  private stamp(m: Message): Uint8Array {
    m.id = this.nextId = this.nextId === 0xffff_ffff ? 1 : this.nextId + 1;
    return encode(m);
  }

  /** Resends a given-up request, backing off, until any reply to it arrives or the guest dies. */
  private *chase(id: number, pkt: Uint8Array): Proc<void> {
    this.chasing.add(id);
    for (let k = 1; this.chasing.has(id) && this.alive(); k = Math.min(k * 2, 64)) {
      if (this.channel.send(this.domain, pkt) === HV.EOK) this.stats.sent++;
      yield this.cost.ldcTimeoutNs * k;
    }
    this.chasing.delete(id);
  }

  private receive(pkt: Uint8Array): void {
    this.stats.received++;
    const m = decode(pkt);
    if (m === null) return;
    this.chasing.delete(m.id);
    const sig = this.pending.get(m.id);
    // While its asker waits, a request's first reply is taken and any duplicate is dropped.
    if (sig !== undefined) {
      if (!sig.triggered) sig.trigger(m);
      return;
    }
    // A grant nobody waits for goes straight back; a duplicate of one already taken is ignored.
    // A resend the broker no longer had a reply for (its cache overflowed, or it restarted) is
    // granted afresh: same id, another range, and that one goes back too.
    const taken = this.accepted.get(m.id);
    if (m.kind === Msg.DVMA_GRANT && taken !== m.base && this.alive()) {
      if (taken === undefined) this.remember(m.id, m.base);
      this.stats.strayGrantsReleased++;
      const { devhandle, base, npages, grant } = m;
      const release = message(Msg.DVMA_RELEASE, { devhandle, base, npages, grant });
      this.sim.spawn(this.ask(release, true), "stray-grant-release");
    }
  }

  /** A grant the asker took: its number is kept for the release that gives it back. */
  private take(id: number, grant: Message): void {
    this.remember(id, grant.base);
    let at = this.held.get(grant.devhandle);
    if (at === undefined) this.held.set(grant.devhandle, (at = new Map()));
    at.set(grant.base, grant.grant);
  }

  /** The number of the grant taken at `m`'s base, forgotten as it goes back (0 if none). */
  private takeHeld(m: Message): number {
    const at = this.held.get(m.devhandle);
    const n = at?.get(m.base) ?? 0;
    at?.delete(m.base);
    return n;
  }

  private remember(id: number, base: number): void {
    this.accepted.set(id, base);
    if (this.accepted.size > ACCEPTED_MEMORY)
      this.accepted.delete(this.accepted.keys().next().value!);
  }
}
