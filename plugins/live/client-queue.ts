/**
 * One client's bounded queue. The simulation offers every event synchronously; the queue keeps
 * the ones the client's filter wants, and when full drops the oldest and counts them, so a slow
 * or stalled client costs a fixed amount of memory and never holds the simulation up.
 */

import { type FeedItem, FeedNotice } from "./feed-item.ts";
import { type FeedFilter, matches } from "./filter.ts";

let nextClientId = 1;

export class ClientQueue {
  readonly id = nextClientId++;
  private readonly ids: Float64Array;
  private readonly items: (FeedItem | undefined)[];
  private head = 0;
  private count = 0;
  private seen = 0;
  /** Events lost since the client last read (reported to it before the next data). */
  dropped = 0;
  droppedTotal = 0;
  delivered = 0;
  closed = false;
  /** Set by the consumer when it wants `notify` called on the next offer. */
  waiting = false;

  constructor(
    readonly kind: "sse" | "ws",
    readonly capacity: number,
    public filter: FeedFilter,
    private readonly notify: () => void,
  ) {
    this.ids = new Float64Array(capacity);
    this.items = new Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Called for every published item: keeps it if wanted, dropping the oldest when full. */
  offer(id: number, item: FeedItem): void {
    if (!(item instanceof FeedNotice)) {
      const f = this.filter;
      if (!matches(f, item)) return;
      if (f.sample > 1 && this.seen++ % f.sample !== 0) return;
    }
    const cap = this.capacity;
    let at = this.head + this.count;
    if (this.count === cap) {
      this.head = (this.head + 1) % cap;
      this.dropped++;
      this.droppedTotal++;
    } else this.count++;
    if (at >= cap) at -= cap;
    this.ids[at] = id;
    this.items[at] = item;
    if (this.waiting) {
      this.waiting = false;
      this.notify();
    }
  }

  /** Counts `n` events lost before the client connected (a resume older than the replay buffer). */
  lost(n: number): void {
    this.dropped += n;
    this.droppedTotal += n;
  }

  /** Removes up to `max` items, oldest first, handing each to `fn`. Returns how many. */
  take(max: number, fn: (id: number, item: FeedItem) => void): number {
    const n = Math.min(max, this.count);
    for (let k = 0; k < n; k++) {
      const at = this.head;
      const item = this.items[at]!;
      this.items[at] = undefined;
      this.head = at + 1 === this.capacity ? 0 : at + 1;
      this.count--;
      fn(this.ids[at]!, item);
    }
    this.delivered += n;
    return n;
  }

  /** Ends the client: frees the queue and wakes a consumer that waits. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.items.fill(undefined);
    this.count = 0;
    this.waiting = false;
    this.notify();
  }
}
