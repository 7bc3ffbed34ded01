/** Shared by the live plugin's tests: start a server, run a short scenario, read SSE frames. */

import {
  applySets,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
  type Report,
  runScenarioAsync,
  startService,
} from "../../../core/index.ts";
import live, { type LiveServer } from "../../../plugins/live/index.ts";

/** A live server on a free loopback port, registered through a PluginHost as the CLI does. */
export function startLive(options: Record<string, unknown> = {}): LiveServer {
  return startService<LiveServer>(live, { port: 0, ...options }).service;
}

/** Runs the default scenario (or `name`) for `duration`, observed by `servers`; resolves to its report. */
export async function runShort(
  servers: LiveServer[],
  opts: {
    duration?: string;
    pace?: number;
    name?: string;
    sets?: string[];
    /** Back-pressure from a live server's lossless clients (LiveServer.hold). */
    drain?: () => Promise<void> | undefined;
  } = {},
): Promise<Report> {
  const cwd = process.cwd();
  const raw = applySets(await loadScenarioFile(opts.name ?? "default", cwd), [
    `duration=${JSON.stringify(opts.duration ?? "1ms")}`,
    ...(opts.sets ?? []),
  ]);
  const scn = parseScenario(raw);
  const table = await loadScenarioPlugins(scn, cwd);
  const observers = servers.map((s) => s.observer);
  return runScenarioAsync(raw, scn, table, { observers, pace: opts.pace, drain: opts.drain });
}

/** Runs `fn` while one SSE client is connected: the feed takes events only while someone watches. */
export async function whileWatched<T>(srv: LiveServer, fn: () => Promise<T>): Promise<T> {
  const res = await fetch(`${srv.url}events`);
  try {
    return await fn();
  } finally {
    await res.body!.cancel().catch(() => {});
  }
}

export interface SseFrame {
  id?: number;
  event: string;
  data: unknown;
}

/** Parses complete SSE frames out of `text` (comments, hello and heartbeats skipped); returns them and the unparsed tail. */
export function parseFrames(text: string): { frames: SseFrame[]; rest: string } {
  const frames: SseFrame[] = [];
  const parts = text.split("\n\n");
  const rest = parts.pop() ?? "";
  for (const block of parts) {
    let id: number | undefined;
    let event = "message";
    let data: string | undefined;
    for (const l of block.split("\n")) {
      if (l.startsWith("id: ")) id = Number(l.slice(4));
      else if (l.startsWith("event: ")) event = l.slice(7);
      else if (l.startsWith("data: ")) data = l.slice(6);
    }
    // hello and heartbeat frames are the transport's, not the feed's.
    if (data !== undefined && event !== "hello" && event !== "heartbeat")
      frames.push({ id, event, data: JSON.parse(data) });
  }
  return { frames, rest };
}

/** Reads SSE frames from `res` until `done(frames)` is true or `ms` pass, then cancels the body. */
export async function readSse(
  res: Response,
  done: (frames: SseFrame[]) => boolean,
  ms = 10_000,
): Promise<SseFrame[]> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  const frames: SseFrame[] = [];
  let rest = "";
  const deadline = performance.now() + ms; // host clock: test time limit
  try {
    while (!done(frames) && performance.now() < deadline) {
      const chunk = await Promise.race([
        reader.read(),
        Bun.sleep(Math.max(1, deadline - performance.now())).then(() => undefined),
      ]);
      if (chunk === undefined || chunk.done) break;
      // Through app.handle the chunks are the strings Elysia enqueued; over a socket, bytes.
      const v: unknown = chunk.value;
      const text = typeof v === "string" ? v : dec.decode(v as Uint8Array, { stream: true });
      const parsed = parseFrames(rest + text);
      frames.push(...parsed.frames);
      rest = parsed.rest;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return frames;
}

/** Events (not notices) of the frames. */
export const eventsOf = (frames: SseFrame[]) =>
  frames.filter((f) => f.event === "message") as (SseFrame & {
    id: number;
    data: { type: string; t: number; domain?: number };
  })[];
