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
  /** Sends a request and returns its reply, or null when none came. */
  ask(m: Message): Proc<Message | null>;
}

/** Grants remembered as taken; only recent ids can still see duplicates. */
const ACCEPTED_MEMORY = 4096;

/**
 * A guest's end of the negotiation: sends requests on its LDC channel, matches replies by id,
 * resends with the same id on timeout (the broker answers a resend idempotently), and gives back
 * any grant that arrives for a request it has given up on, so no DVMA leaks.
 */
export class BrokerClient implements BrokerLink {
  private readonly pending = new Map<number, Signal<Message | null>>();
  private readonly accepted = new Set<number>();
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

  /** Sends `m` with a fresh id and waits for its reply (null after every retry timed out). */
  *ask(m: Message): Proc<Message | null> {
    const { sim, cost, channel, domain, cpu } = this;
    // Ids are 32 bits on the wire: they wrap (skipping 0) rather than overflow the field.
    m.id = this.nextId = this.nextId === 0xffff_ffff ? 1 : this.nextId + 1;
    const pkt = encode(m);
    for (let attempt = 0; attempt <= cost.ldcRetries; attempt++) {
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
      cpu.charge(cost.ldcSendCpuNs);
      yield cost.ldcSendCpuNs;
      const timer = sim.schedule(cost.ldcTimeoutNs, () => {
        if (!sig.triggered) sig.trigger(null);
      });
      const reply: Message | null = yield sig;
      sim.cancel(timer);
      if (reply !== null) {
        this.pending.delete(m.id);
        if (reply.kind === Msg.DVMA_GRANT) this.remember(m.id);
        return reply;
      }
      this.stats.timeouts++;
    }
    this.pending.delete(m.id);
    return null;
  }

  private receive(pkt: Uint8Array): void {
    this.stats.received++;
    this.cpu.charge(this.cost.ldcRecvCpuNs);
    const m = decode(pkt);
    if (m === null) return;
    const sig = this.pending.get(m.id);
    if (sig !== undefined && !sig.triggered) {
      sig.trigger(m);
      return;
    }
    // A grant nobody waits for goes straight back; a duplicate of one already taken is ignored.
    if (m.kind === Msg.DVMA_GRANT && !this.accepted.has(m.id) && this.alive()) {
      this.remember(m.id);
      this.stats.strayGrantsReleased++;
      const release = message(Msg.DVMA_RELEASE, {
        devhandle: m.devhandle,
        base: m.base,
        npages: m.npages,
      });
      this.sim.spawn(this.ask(release), "stray-grant-release");
    }
  }

  private remember(id: number): void {
    this.accepted.add(id);
    if (this.accepted.size > ACCEPTED_MEMORY)
      this.accepted.delete(this.accepted.values().next().value!);
  }
}
