import type { Hypervisor } from "../hv/hypervisor.ts";
import { PAGE_SIZE } from "../machine/memory.ts";
import { decode, Msg } from "./protocol.ts";
import type { RangeSet } from "./ranges.ts";

/**
 * The broker's replies to one guest, by request id, so a resent request gets the same answer.
 * The most recent `size` are kept; a grant pushed out while its DVMA is still granted is kept
 * aside as long as that lasts. Otherwise a guest with more requests in flight than `size`,
 * resending after a lost reply, would be granted a second range while the first leaked.
 *
 * The replies are journaled (each written before it is sent, kept durably by the control domain),
 * so a broker crash loses none and after the restart a resend is answered as before. Without the
 * journal two grants leaked: a grant whose reply the crash swallowed (the resend was granted
 * afresh, the first range stayed with a guest that never learnt it), and a grant already given
 * back (a stale resend was granted afresh, often the same range, which the guest ignored as a
 * duplicate of the answer it had taken) — both held until the guest exits.
 *
 * The journal still keeps only the latest `size` replies, so it also records the newest id it has
 * pushed out (journaled with it): a request at or below that mark with no reply kept is stale —
 * most likely answered, its answer gone — and is refused, granting nothing. Granting it afresh
 * would leak the same way (first fit hands out the range the guest gave back, and the guest
 * ignores it as a duplicate). A release needs no mark: it names its grant (GrantTable), and one
 * already served finds that grant gone.
 */
export class ReplyCache {
  private readonly recent = new Map<number, Uint8Array>();
  private readonly liveGrants = new Map<number, Uint8Array>();
  /** The newest id pushed out of `recent`, or -1. Ids are 32 bits and wrap: compared as serials. */
  private mark = -1;

  constructor(
    private readonly size: number,
    private readonly hv: Hypervisor,
    /** The guest's granted ranges per devhandle (the broker's ledger). */
    private readonly ledger: ReadonlyMap<number, RangeSet>,
  ) {}

  /** True if `pkt` is a grant whose range the guest still holds in full. */
  private stillGranted(pkt: Uint8Array): boolean {
    const m = pkt[0] === Msg.DVMA_GRANT ? decode(pkt) : null;
    const io = m === null ? undefined : this.hv.iommus.get(m.devhandle);
    if (m === null || io === undefined) return false;
    return (
      this.ledger.get(m.devhandle)?.covers((m.base - io.windowBase) / PAGE_SIZE, m.npages) ?? false
    );
  }

  get(id: number): Uint8Array | undefined {
    return this.recent.get(id) ?? this.liveGrants.get(id);
  }

  /** True when `id` has no reply kept and is at or below the newest id pushed out. */
  stale(id: number): boolean {
    return this.mark >= 0 && this.get(id) === undefined && atOrBefore(id, this.mark);
  }

  set(id: number, pkt: Uint8Array): void {
    this.recent.set(id, pkt);
    if (this.recent.size <= this.size) return;
    const [oldId, old] = this.recent.entries().next().value!;
    this.recent.delete(oldId);
    if (this.mark < 0 || atOrBefore(this.mark, oldId)) this.mark = oldId;
    if (!this.stillGranted(old)) return;
    this.liveGrants.set(oldId, old);
    // Released grants are dropped once the aside set has doubled: bounded by what is granted.
    if (this.liveGrants.size > 2 * this.size)
      for (const [k, p] of this.liveGrants) if (!this.stillGranted(p)) this.liveGrants.delete(k);
  }

  /**
   * The guest gave back (or lost) pages: kept grants inside them no longer answer a resend. Without
   * this a kept grant whose pages a later grant covers again looks still granted forever, and the
   * kept set (rescanned on every prune) grows with simulated time.
   */
  released(devhandle: number, index: number, npages: number): void {
    const io = this.hv.iommus.get(devhandle);
    if (io === undefined) return;
    for (const [id, pkt] of this.liveGrants) {
      const m = decode(pkt);
      if (m === null || m.devhandle !== devhandle) continue;
      const start = (m.base - io.windowBase) / PAGE_SIZE;
      if (start < index + npages && index < start + m.npages) this.liveGrants.delete(id);
    }
  }

  clear(): void {
    this.recent.clear();
    this.liveGrants.clear();
  }
}

/** `a` is `b` or comes before it among 32-bit ids that wrap (serial number arithmetic, RFC 1982). */
function atOrBefore(a: number, b: number): boolean {
  return (b - a) >>> 0 < 0x8000_0000;
}
