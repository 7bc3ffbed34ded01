/**
 * The WebSocket feed of one client. Messages out, one JSON object each:
 *   {"id":N,"event":{...}}   a simulation event (typed, with its virtual time `t`)
 *   {"id":N,"run":{...}} / {"id":N,"result":{...}}   a run started / ended
 *   {"dropped":n}            n events were lost because the client read too slowly
 *   {"filter":{...}}         the filter now in force (after a client message)
 *   {"error":"...","path":"/types"}   a client message was refused
 * Messages in: {"types":[...]|null,"domain":n|null,"sample":n}, any subset.
 */

import type { ServerWebSocket } from "bun";
import { ClientQueue } from "./client-queue.ts";
import { FeedNotice } from "./feed-item.ts";
import {
  type FeedFilter,
  type FilterError,
  filterJson,
  isFilterError,
  parseFilter,
} from "./filter.ts";
import type { FeedHub } from "./hub.ts";

/** Messages sent per step between checks for backpressure. */
const BATCH = 256;

export class WsFeed {
  readonly queue: ClientQueue;
  private scheduled = false;

  constructor(
    private readonly hub: FeedHub,
    private readonly socket: ServerWebSocket<unknown>,
    filter: FeedFilter,
    capacity: number,
    private readonly maxMessageBytes: number,
    lossless = false,
  ) {
    this.queue = new ClientQueue("ws", capacity, filter, () => this.schedule(), lossless);
    hub.attach(this.queue);
    this.queue.waiting = true;
  }

  /** Sends after the current simulation slice, once however many events arrived. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => this.pump());
  }

  /**
   * Sends queued items until the queue is empty or Bun reports backpressure (a send returns -1
   * once the socket holds more than the server's backpressureLimit); `drain` then resumes.
   */
  pump(): void {
    this.scheduled = false;
    const q = this.queue;
    const ws = this.socket;
    if (q.closed) return;
    let backed = false;
    const send = (text: string) => {
      if (ws.sendText(text) === -1) backed = true;
    };
    ws.cork(() => {
      while (!backed) {
        if (q.dropped > 0) {
          send(`{"dropped":${q.dropped}}`);
          q.dropped = 0;
        }
        const sent = q.take(BATCH, (id, item) => {
          const key = item instanceof FeedNotice ? item.event : "event";
          send(`{"id":${id},"${key}":${this.hub.json(id, item)}}`);
        });
        if (sent === 0) {
          q.waiting = true;
          return;
        }
      }
    });
  }

  /** A client message: a new filter, or an error naming the bad field. */
  receive(message: unknown): void {
    const f = this.filterFrom(message);
    if (isFilterError(f)) this.reply(f);
    else {
      this.hub.refilter(this.queue, f);
      this.reply({ filter: filterJson(f) });
    }
  }

  private filterFrom(message: unknown): FeedFilter | FilterError {
    let msg = message;
    if (typeof msg === "string") {
      if (msg.length > this.maxMessageBytes) return { error: "message too large", path: "/" };
      try {
        msg = JSON.parse(msg);
      } catch {
        return { error: "expected a JSON object", path: "/" };
      }
    }
    if (typeof msg !== "object" || msg === null || Array.isArray(msg))
      return { error: 'expected a JSON object such as {"types":["dma.done"]}', path: "/" };
    return parseFilter(msg as Record<string, unknown>, this.queue.filter, false);
  }

  /** The socket closed: frees the queue. */
  close(): void {
    this.hub.detach(this.queue);
  }

  /** Closes the socket from the server side. */
  end(code: number, reason: string): void {
    this.close();
    this.socket.close(code, reason);
  }

  private reply(x: object): void {
    this.socket.sendText(JSON.stringify(x));
  }
}
