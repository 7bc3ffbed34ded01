/** The LDC packets in flight on each explored channel, as the state key reads them. */
import type { EventBus } from "../../model/events/bus.ts";
import type { KeyWriter } from "./key-parts.ts";
import type { GuestSwap } from "./symmetry.ts";

/** A packet in flight: its sender's domain id, kind, id and the hash of its contents. */
interface Packet {
  from: number;
  msg: string;
  id: number;
  hash: bigint;
}

/** Packets in flight per channel, oldest first, named by direction, kind, id and contents. */
export class InFlight {
  private readonly byChannel = new Map<number, Packet[]>();

  constructor(bus: EventBus, channels: readonly number[]) {
    for (const c of channels) this.byChannel.set(c, []);
    bus.on("ldc.deliver", (e) => {
      const q = this.byChannel.get(e.channel)!;
      const at = q.findIndex((x) => x.from === e.from && x.msg === e.msg && x.id === e.id);
      if (at >= 0) q.splice(at, 1);
    });
    bus.on("ldc.reset", (e) => this.byChannel.set(e.channel, []));
  }

  /** A packet sent on `channel` that arrives `copies` times (0 when lost, 2 when duplicated). */
  sent(channel: number, from: number, msg: string, id: number, pkt: Uint8Array, copies: number) {
    // Named with what it carries (a grant's range, say), not only its kind and id.
    const p: Packet = { from, msg, id, hash: Bun.hash.wyhash(pkt) };
    const q = this.byChannel.get(channel)!;
    for (let k = 0; k < copies; k++) q.push(p);
  }

  /** The packets in flight on `channel`, their senders renamed with `swap`. */
  write(w: KeyWriter, channel: number, swap: GuestSwap | null): void {
    const q = this.byChannel.get(channel)!;
    w.list(q.length);
    for (const x of q) {
      w.raw(swap === null ? x.from : swap.dom(x.from));
      w.str(x.msg);
      w.raw(x.id);
      w.hash64(x.hash);
    }
  }
}
