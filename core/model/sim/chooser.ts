/** The hook through which exploration orders simultaneous events (Simulator.chooser). */
import type { Process } from "./kernel.ts";

/**
 * Picks which of `n` events due at one instant runs next (0 = FIFO): event i resumes the process
 * `candidate(i)`, or (null) calls `fn(i)`. Asked before every event (n = 1 too, so a checker sees
 * every state): every ordering of simultaneous events is reachable and, recorded, replayable. The
 * clock already reads that instant, so what the chooser does between events (a fault it strikes)
 * acts then, never earlier; after such a change it answers CHOOSE_AGAIN and is asked again, with
 * the events that change made due at that instant as well.
 */
export type EventChooser = (n: number, candidate: Candidate, fn: (i: number) => unknown) => number;
type Candidate = (i: number) => Process<unknown> | null;

/** A chooser's answer after it changed the model: ask again, with whatever is now due. */
export const CHOOSE_AGAIN = -1;
