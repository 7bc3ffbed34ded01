/**
 * The feed hub: numbers every item (ids increase across runs), keeps the last `replay` of them
 * for Last-Event-ID resume, hands each to every client queue, and serialises an item at most
 * once however many clients send it (a JSON cache beside the ring).
 */

import type { ClientQueue, QueuePolicy } from "./client-queue.ts";
import { type FeedItem, FeedNotice } from "./feed-item.ts";
import type { FeedFilter } from "./filter.ts";

export class FeedHub implements QueuePolicy {
  /** Id of the last published item (0 = none yet). */
  lastId = 0;
  private readonly cap: number;
  private readonly ids: Float64Array;
  private readonly items: (FeedItem | undefined)[];
  private readonly cache: (string | undefined)[];
  private clients: ClientQueue[] = [];
  /** Paced runs in progress: while there are any, every client is lossless. */
  private paced = 0;
  /** Runs waiting for lossless clients to catch up. */
  private waiters: (() => void)[] = [];
  /** Told when the clients or their filters change (the observer subscribes to what they want). */
  onDemand: () => void = () => {};

  constructor(
    readonly replay: number,
    clientQueue: number,
  ) {
    // Items a queue still holds are usually in the ring too, so their JSON is shared.
    this.cap = Math.max(1, replay, clientQueue);
    this.ids = new Float64Array(this.cap);
    this.items = new Array(this.cap);
    this.cache = new Array(this.cap);
  }

  publish(item: FeedItem): void {
    const id = ++this.lastId;
    const at = id % this.cap;
    this.ids[at] = id;
    this.items[at] = item;
    this.cache[at] = undefined;
    const cs = this.clients;
    for (let i = 0; i < cs.length; i++) cs[i]!.offer(id, item);
  }

  /** The item's JSON (the event itself, or the notice's data). */
  json(id: number, item: FeedItem): string {
    const at = id % this.cap;
    if (this.ids[at] !== id) return serialise(item);
    return (this.cache[at] ??= serialise(item));
  }

  /** A queue may drop events unless its client asked for none lost or a paced run is on. */
  mayDrop(q: ClientQueue): boolean {
    return !q.lossless && this.paced === 0;
  }

  /** After a client read (or left): wakes the runs when no lossless client is over its capacity. */
  taken(_q: ClientQueue): void {
    if (this.waiters.length === 0 || this.behind()) return;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  private behind(): boolean {
    return this.clients.some((c) => !this.mayDrop(c) && c.size >= c.capacity);
  }

  /**
   * Back-pressure for one run: `drain` (between slices) returns a promise while a lossless
   * client holds `capacity` items or more. A paced run makes every client lossless until `end`.
   */
  hold(paced: boolean): { drain: () => Promise<void> | undefined; end: () => void } {
    if (paced) this.paced++;
    let ended = false;
    return {
      drain: () => (this.behind() ? new Promise<void>((res) => this.waiters.push(res)) : undefined),
      end: () => {
        if (ended) return;
        ended = true;
        if (paced) this.paced--;
      },
    };
  }

  /**
   * Adds a client. With `lastEventId`, first queues the kept items after it (the client's
   * filter applies); items that already left the buffer are counted as dropped.
   */
  attach(client: ClientQueue, lastEventId?: number): void {
    if (lastEventId !== undefined && lastEventId < this.lastId) {
      const oldest = Math.max(1, this.lastId - Math.min(this.replay, this.cap) + 1);
      if (lastEventId + 1 < oldest) client.lost(oldest - lastEventId - 1);
      for (let id = Math.max(oldest, lastEventId + 1); id <= this.lastId; id++)
        client.offer(id, this.items[id % this.cap]!);
    }
    client.policy = this;
    this.clients = [...this.clients, client];
    this.onDemand();
  }

  detach(client: ClientQueue): void {
    const before = this.clients.length;
    this.clients = this.clients.filter((c) => c !== client);
    client.close();
    this.taken(client);
    if (this.clients.length !== before) this.onDemand();
  }

  /** A client's new filter (a WebSocket message). */
  refilter(client: ClientQueue, filter: FeedFilter): void {
    client.filter = filter;
    this.onDemand();
  }

  /** The event kinds some client wants: null for none (no client), "all", or the union of their kinds. */
  wanted(): ReadonlySet<string> | "all" | null {
    if (this.clients.length === 0) return null;
    const kinds = new Set<string>();
    for (const c of this.clients) {
      if (c.filter.types === null) return "all";
      for (const t of c.filter.types) kinds.add(t);
    }
    return kinds;
  }

  /** Every connected client (for /state and shutdown). */
  get connected(): readonly ClientQueue[] {
    return this.clients;
  }
}

function serialise(item: FeedItem): string {
  return JSON.stringify(item instanceof FeedNotice ? item.data : item);
}
