import type { EventBus } from "../events/bus.ts";
import type { Simulator } from "../sim/kernel.ts";
import type { Rng } from "../sim/rng.ts";
import { HV } from "./status.ts";

/** Every LDC packet and queue entry is 64 bytes (Linux LDC_PACKET_SIZE). */
export const LDC_PACKET_SIZE = 64;

export interface LdcOptions {
  /** Queue entries (a power of two; sun4v's default is PAGE_SIZE / 64 = 128). */
  queueEntries: number;
  latencyNs: number;
  /** Probability a packet is lost (fault injection; real LDC does not lose packets). */
  lossRate: number;
  /**
   * Decides each sent packet's fate instead of `lossRate`: 0 = lost, 1 = delivered, 2 =
   * duplicated, 3 = delivered `lateNs` late (fault injection for exhaustive exploration).
   */
  fate?: (pkt: Uint8Array, from: number) => 0 | 1 | 2 | 3;
  lateNs?: number;
  /** Names a packet for events (message kind and id); the channel itself never reads payloads. */
  label?: (pkt: Uint8Array) => { msg: string; id: number };
  /** Per-domain hypercall counters: one LDC_TX per send, one LDC_RX per delivery. */
  hcalls?: number[];
}

type Receiver = (pkt: Uint8Array) => void;

/** A packet on its way to, or waiting in, a polled end's queue. */
interface Queued {
  at: number;
  from: number;
  pkt: Uint8Array;
}

/**
 * A logical domain channel between two domains: 64-byte packets, a bounded queue, a fixed
 * latency, in-order delivery. A full queue answers EWOULDBLOCK; a reset (endpoint death)
 * discards everything in flight and a channel with a dead endpoint answers ECHANNEL.
 */
export class LdcChannel {
  readonly id: number;
  readonly ends: readonly [number, number];
  private readonly receivers: [Receiver | null, Receiver | null] = [null, null];
  private readonly resetters: [(() => void) | null, (() => void) | null] = [null, null];
  private readonly inFlight: [number, number] = [0, 0];
  private readonly lastArrival: [number, number] = [0, 0];
  private epoch = 0;
  private readonly down: [boolean, boolean] = [false, false];
  /**
   * Polled ends: packets stay in the end's queue, oldest first from `head`, until the domain
   * reads them (poll); the receiver runs for a landing packet only while the end is armed.
   */
  private readonly polled: [boolean, boolean] = [false, false];
  private readonly armed: [boolean, boolean] = [false, false];
  private readonly backlog: [Queued[], Queued[]] = [[], []];
  private readonly head: [number, number] = [0, 0];
  private readonly wake: [number, number] = [-1, -1];
  sent = 0;
  delivered = 0;
  /** When the packet the last send() queued lands, or -1 if it queued none (lost, refused). */
  lastLanding = -1;
  dropped = 0;
  wouldBlock = 0;

  constructor(
    private readonly sim: Simulator,
    id: number,
    a: number,
    b: number,
    private readonly opts: LdcOptions,
    private readonly rng: Rng,
    private readonly bus?: EventBus,
  ) {
    this.id = id;
    this.ends = [a, b];
  }

  private side(domain: number): number {
    return domain === this.ends[0] ? 0 : domain === this.ends[1] ? 1 : -1;
  }

  peerOf(domain: number): number {
    return this.ends[1 - this.side(domain)]!;
  }

  /**
   * Registers what runs, in the receiving domain, for each packet that reaches `domain`. A
   * `polled` end keeps landed packets in its queue until the domain reads them with poll(), as
   * a service thread that is busy drains its queue when it is free; `fn` then runs for a packet
   * that lands only while the end is armed (arm(): the domain waits for one).
   */
  onReceive(domain: number, fn: Receiver, onReset?: () => void, polled = false): void {
    const s = this.side(domain);
    if (s < 0)
      throw new RangeError(`domain ${domain} is not an endpoint of LDC channel ${this.id}`);
    this.receivers[s] = fn;
    this.resetters[s] = onReset ?? null;
    this.polled[s] = polled;
    this.armed[s] = false;
  }

  /** A polled end: the oldest packet that has landed for `domain`, now read, or null. */
  poll(domain: number): Uint8Array | null {
    const s = this.side(domain);
    const q = this.backlog[s]!;
    const h = this.head[s]!;
    if (h === q.length || q[h]!.at > this.sim.now) return null;
    const { from, pkt } = q[h]!;
    q[h] = undefined as unknown as Queued;
    this.head[s] = h + 1;
    if (h + 1 === q.length) {
      q.length = 0;
      this.head[s] = 0;
    }
    this.land(from, s, pkt);
    return pkt;
  }

  /** A polled end: whether `domain` waits for packets (its receiver runs as each lands). */
  arm(domain: number, on: boolean): void {
    const s = this.side(domain);
    this.armed[s] = on;
    if (!on && this.wake[s]! >= 0) {
      this.sim.cancel(this.wake[s]!);
      this.wake[s] = -1;
    } else if (on) this.wakeFor(s);
  }

  /** Schedules the armed end's wake-up for its oldest packet, if any and none is scheduled. */
  private wakeFor(s: number): void {
    const q = this.backlog[s]!;
    if (this.wake[s]! >= 0 || this.head[s] === q.length) return;
    this.wake[s] = this.sim.at(Math.max(q[this.head[s]!]!.at, this.sim.now), () => {
      this.wake[s] = -1;
      const domain = this.ends[s]!;
      for (
        let pkt = this.poll(domain);
        pkt !== null;
        pkt = this.armed[s] ? this.poll(domain) : null
      )
        this.receivers[s]?.(pkt);
      if (this.armed[s]) this.wakeFor(s);
    });
  }

  /** A packet reaches side `to`: counted, traced (the caller passes it to the receiver). */
  private land(from: number, to: number, pkt: Uint8Array): void {
    this.inFlight[to]!--;
    this.delivered++;
    if (this.opts.hcalls) this.opts.hcalls[this.ends[to]!]!++;
    if (this.bus?.wants("ldc.deliver")) this.emit("ldc.deliver", from, pkt);
  }

  /** Queues one packet from `from` to the other end; returns an HV status. */
  send(from: number, pkt: Uint8Array): number {
    this.lastLanding = -1;
    const s = this.side(from);
    if (s < 0 || this.down[0] || this.down[1]) return HV.ECHANNEL;
    if (pkt.length !== LDC_PACKET_SIZE) return HV.EINVAL;
    const to = 1 - s;
    if (this.inFlight[to]! >= this.opts.queueEntries) {
      this.wouldBlock++;
      return HV.EWOULDBLOCK;
    }
    this.sent++;
    if (this.opts.hcalls) this.opts.hcalls[from]!++;
    const copy = pkt.slice();
    if (this.bus?.wants("ldc.send")) this.emit("ldc.send", from, copy);
    const copies = this.opts.fate
      ? this.opts.fate(copy, from)
      : this.opts.lossRate > 0 && this.rng.chance(this.opts.lossRate)
        ? 0
        : 1;
    if (copies === 0) {
      this.dropped++;
      if (this.bus?.wants("ldc.drop")) this.emit("ldc.drop", from, copy, "lost");
      return HV.EOK;
    }
    this.enqueue(from, to, copy, copies === 3 ? (this.opts.lateNs ?? 0) : 0);
    // A duplicate takes a queue slot of its own; with none left it is not made.
    if (copies === 2 && this.inFlight[to]! < this.opts.queueEntries)
      this.enqueue(from, to, copy, 0);
    return HV.EOK;
  }

  private enqueue(from: number, to: number, copy: Uint8Array, lateNs: number): void {
    this.inFlight[to]!++;
    // In order: a packet never overtakes the one before it.
    const arrival = Math.max(this.sim.now + this.opts.latencyNs + lateNs, this.lastArrival[to]!);
    this.lastArrival[to] = arrival;
    if (this.lastLanding < 0) this.lastLanding = arrival;
    if (this.polled[to]) {
      this.backlog[to]!.push({ at: arrival, from, pkt: copy });
      if (this.armed[to]) this.wakeFor(to);
      return;
    }
    const epoch = this.epoch;
    this.sim.at(arrival, () => {
      if (epoch !== this.epoch) return; // discarded by a reset
      this.land(from, to, copy);
      this.receivers[to]?.(copy);
    });
  }

  /** Drops everything in flight and tells both ends; a dead end keeps the channel down. */
  reset(reason: string, deadDomain?: number): void {
    this.epoch++;
    this.inFlight[0] = this.inFlight[1] = 0;
    for (const s of [0, 1]) {
      this.backlog[s]!.length = this.head[s] = 0;
      if (this.wake[s]! >= 0) this.sim.cancel(this.wake[s]!);
      this.wake[s] = -1;
    }
    if (deadDomain !== undefined) {
      const s = this.side(deadDomain);
      if (s >= 0) this.down[s] = true;
    }
    if (this.bus?.wants("ldc.reset")) this.bus.emit("ldc.reset", { channel: this.id, reason });
    for (const r of this.resetters) r?.();
  }

  get isUp(): boolean {
    return !this.down[0] && !this.down[1];
  }

  /** Packets sent towards `domain` and not yet delivered. */
  queued(domain: number): number {
    return this.inFlight[this.side(domain)] ?? 0;
  }

  private emit(
    type: "ldc.send" | "ldc.deliver" | "ldc.drop",
    from: number,
    pkt: Uint8Array,
    reason?: string,
  ): void {
    const to = this.peerOf(from);
    const { msg, id } = this.opts.label?.(pkt) ?? { msg: "packet", id: 0 };
    if (type === "ldc.drop")
      this.bus!.emit(type, { channel: this.id, from, to, msg, id, reason: reason! });
    else this.bus!.emit(type, { channel: this.id, from, to, msg, id });
  }
}
