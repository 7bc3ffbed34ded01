/**
 * What the feed carries: simulation events, and notices of runs starting and ending, and of
 * the moment the last client left while runs went on (`unobserved`: events from then until a
 * client connects are not kept, so a client resuming across it knows what it missed).
 */

import type { SimEvent } from "../../core/index.ts";

/** A notice besides the events (SSE `event:` name / WebSocket key): not filtered, not sampled. */
export class FeedNotice {
  constructor(
    readonly event: "run" | "result" | "unobserved",
    readonly data: object,
  ) {}
}

export type FeedItem = SimEvent | FeedNotice;
