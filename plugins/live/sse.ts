/**
 * The SSE stream of one client, as an async generator Elysia pulls from (pull-based since
 * Elysia 1.4.28: one step per read, so a client that does not read stops the pulls and its
 * queue, not memory, absorbs the difference). Each step sends everything queued as one chunk.
 */

import { ClientQueue } from "./client-queue.ts";
import { FeedNotice } from "./feed-item.ts";
import type { FeedFilter } from "./filter.ts";
import type { FeedHub } from "./hub.ts";

const HEARTBEAT_MS = 15_000;
/** Items per chunk: bounds a chunk to a few hundred KiB. */
const MAX_BATCH = 2048;

/**
 * Frames Elysia writes verbatim: it sends an object's `toSSE()` as is (elysia
 * src/adapter/utils.ts), which lets one chunk carry many frames and comments.
 */
class SseChunk {
  readonly sse = true;
  constructor(private readonly text: string) {}
  toSSE(): string {
    return this.text;
  }
}

/** The queued frames of `q` (a `dropped` notice first if it lost any), up to MAX_BATCH items. */
function frames(hub: FeedHub, q: ClientQueue): string {
  let out = "";
  if (q.dropped > 0) {
    out = `event: dropped\ndata: {"dropped":${q.dropped}}\n\n`;
    q.dropped = 0;
  }
  q.take(MAX_BATCH, (id, item) => {
    const name = item instanceof FeedNotice ? `event: ${item.event}\n` : "";
    out += `id: ${id}\n${name}data: ${hub.json(id, item)}\n\n`;
  });
  return out;
}

export interface SseOptions {
  filter: FeedFilter;
  capacity: number;
  /** The runs wait for this client rather than drop its events. */
  lossless?: boolean;
  lastEventId?: number;
  signal: AbortSignal;
  heartbeatMs?: number;
}

/** Streams the feed to one client until it disconnects; everything it holds is freed in `finally`. */
export async function* sseStream(hub: FeedHub, opts: SseOptions): AsyncGenerator<SseChunk> {
  let wake: ((woken: boolean) => void) | undefined;
  const q = new ClientQueue("sse", opts.capacity, opts.filter, () => wake?.(true), opts.lossless);
  // A generator parked in `await` cannot see iterator.return(): the abort wakes it (elysia#1768).
  const onAbort = () => hub.detach(q);
  opts.signal.addEventListener("abort", onAbort, { once: true });
  hub.attach(q, opts.lastEventId);
  const heartbeat = opts.heartbeatMs ?? HEARTBEAT_MS;
  try {
    // The first step runs before the response exists: send at once so headers go out.
    // The heartbeat period goes first, so a client can tell a stalled stream from a quiet one.
    yield new SseChunk(
      `retry: 1000\n: sun4v-dvma live feed\nevent: hello\ndata: {"heartbeatMs":${heartbeat}}\n\n`,
    );
    while (!q.closed) {
      if (q.idle) {
        const woken = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), heartbeat); // host clock: keep-alive only
          wake = (w) => {
            clearTimeout(timer);
            resolve(w);
          };
          q.waiting = true;
        });
        wake = undefined;
        if (q.closed) break;
        if (!woken) {
          q.waiting = false;
          // An event, not a comment: EventSource hides comments from the page.
          yield new SseChunk("event: heartbeat\ndata: {}\n\n");
          continue;
        }
      }
      yield new SseChunk(frames(hub, q));
    }
  } finally {
    opts.signal.removeEventListener("abort", onAbort);
    hub.detach(q);
  }
}
