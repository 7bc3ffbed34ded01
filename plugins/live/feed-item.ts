/** What the feed carries: simulation events, and notices of runs starting and ending. */

import type { SimEvent } from "../../core/index.ts";

/** A notice besides the events (SSE `event:` name / WebSocket key): not filtered, not sampled. */
export class FeedNotice {
  constructor(
    readonly event: "run" | "result",
    readonly data: object,
  ) {}
}

export type FeedItem = SimEvent | FeedNotice;
