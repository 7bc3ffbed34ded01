/**
 * One client's queue. The simulation offers every event synchronously; the queue keeps the ones
 * the client's filter wants. Loss policy: a lossy client's queue holds at most `capacity`
 * events and, when full, drops the oldest and counts them (reported to the client as a
 * `dropped` notice before its next data), so a slow client costs a fixed amount of memory and
 * never holds the simulation up. A lossless client (or any client while a paced run is in
 * progress) never loses an event: its queue may pass `capacity` within one slice of simulation,
 * and the runs wait between slices until it is back under (see FeedHub.hold). Notices (`run`,
 * `result`) are never dropped and never filtered.
 */

import { type FeedItem, FeedNotice } from "./feed-item.ts";
import { type FeedFilter, matches } from "./filter.ts";

let nextClientId = 1;

/** What the hub decides for a queue: whether it may drop now, and what to do after a read. */
export interface QueuePolicy {
  mayDrop(q: ClientQueue): boolean;
  taken(q: ClientQueue): void;
}

const ALWAYS_DROP: QueuePolicy = { mayDrop: () => true, taken: () => {} };

export class ClientQueue {
  readonly id = nextClientId++;
  private ids: Float64Array;
  private items: (FeedItem | undefined)[];
  private head = 0;
  private count = 0;
  private seen = 0;
  /** Notices waiting, in id order (kept apart so that dropping events never touches them). */
  private notices: { id: number; item: FeedNotice }[] = [];
  /** Events lost since the client last read (reported to it before the next data). */
  dropped = 0;
  droppedTotal = 0;
  delivered = 0;
  closed = false;
  /** Set by the consumer when it wants `notify` called on the next offer. */
  waiting = false;
  policy: QueuePolicy = ALWAYS_DROP;

  constructor(
    readonly kind: "sse" | "ws",
    readonly capacity: number,
    public filter: FeedFilter,
    private readonly notify: () => void,
    /** Asked for ?lossless=1: the runs wait for this client rather than drop its events. */
    readonly lossless = false,
  ) {
    this.ids = new Float64Array(capacity);
    this.items = new Array(capacity);
  }

  /** Events waiting. */
  get size(): number {
    return this.count;
  }

  /** Notices waiting. */
  get pendingNotices(): number {
    return this.notices.length;
  }

  /** Nothing to send: no events, no notices, no loss to report. */
  get idle(): boolean {
    return this.count === 0 && this.notices.length === 0 && this.dropped === 0;
  }

  /** Called for every published item: keeps it if wanted, dropping the oldest event when full. */
  offer(id: number, item: FeedItem): void {
    if (this.closed) return;
    if (item instanceof FeedNotice) this.notices.push({ id, item });
    else {
      const f = this.filter;
      if (!matches(f, item)) return;
      if (f.sample > 1 && this.seen++ % f.sample !== 0) return;
      this.push(id, item);
    }
    if (this.waiting) {
      this.waiting = false;
      this.notify();
    }
  }

  private push(id: number, item: FeedItem): void {
    let cap = this.ids.length;
    if (this.count === cap) {
      if (this.policy.mayDrop(this)) {
        this.head = this.head + 1 === cap ? 0 : this.head + 1;
        this.count--;
        this.dropped++;
        this.droppedTotal++;
      } else cap = this.grow();
    }
    let at = this.head + this.count;
    if (at >= cap) at -= cap;
    this.ids[at] = id;
    this.items[at] = item;
    this.count++;
  }

  /** Doubles the ring, oldest first at 0 (a lossless queue within one slice). */
  private grow(): number {
    const cap = this.ids.length;
    const ids = new Float64Array(cap * 2);
    const items: (FeedItem | undefined)[] = new Array(cap * 2);
    for (let k = 0; k < this.count; k++) {
      const at = (this.head + k) % cap;
      ids[k] = this.ids[at]!;
      items[k] = this.items[at];
    }
    this.ids = ids;
    this.items = items;
    this.head = 0;
    return cap * 2;
  }

  /** Counts `n` events lost before the client connected (a resume older than the replay buffer). */
  lost(n: number): void {
    this.dropped += n;
    this.droppedTotal += n;
  }

  /** Removes up to `max` items in id order, handing each to `fn`. Returns how many. */
  take(max: number, fn: (id: number, item: FeedItem) => void): number {
    let n = 0;
    let k = 0;
    const notices = this.notices;
    const cap = this.ids.length;
    while (n < max) {
      // Events up to the next notice (all of them when none waits): the common, fast case.
      const until = k < notices.length ? notices[k]!.id : Number.POSITIVE_INFINITY;
      while (n < max && this.count > 0 && this.ids[this.head]! < until) {
        const at = this.head;
        const item = this.items[at]!;
        this.items[at] = undefined;
        this.head = at + 1 === cap ? 0 : at + 1;
        this.count--;
        fn(this.ids[at]!, item);
        n++;
      }
      if (n === max || k === notices.length) break;
      fn(until, notices[k++]!.item);
      n++;
    }
    if (k > 0) this.notices = notices.slice(k);
    this.delivered += n;
    if (n > 0) this.policy.taken(this);
    return n;
  }

  /** Ends the client: frees the queue and wakes a consumer that waits. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.items = [];
    this.ids = new Float64Array(1);
    this.notices = [];
    this.count = 0;
    this.waiting = false;
    this.notify();
    this.policy.taken(this);
  }
}
