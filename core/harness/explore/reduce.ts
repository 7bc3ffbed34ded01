/**
 * Partial-order reduction of the explored faults (persistent sets over faults, after Godefroid
 * 1996): a fault is offered only before an event that depends on it, or when the schedule ends.
 * Striking before an event it does not depend on and striking right after that event reach the
 * same state, so the earlier instant adds no state of its own (README, "The protocol explored
 * exhaustively").
 *
 * Dependency is read from whom an event acts for, conservatively. A guest's own processes (its
 * workload and every process or timer made while one of its events ran) act for that guest; an
 * LDC arrival acts for its receiver (the guest, or the broker); what the broker's events make acts
 * for the broker. Everything else (callbacks made by a fault or before tracking began) is ANY:
 * it may touch anything, and every fault depends on it. The same reading lets two guests' events
 * due at one instant run one guest's first (offeredEvents).
 */
import type { LdcChannel } from "../../model/hv/ldc.ts";
import type { Process, Simulator } from "../../model/sim/kernel.ts";

/** The actor of an event that may touch any part of the model. */
export const ANY = "*";
/** The control domain's broker (its processes and the packets it receives). */
export const BROKER = "broker";

/** Callback source texts, numbered in the order first seen (shared by every world of a run). */
const sources = new Map<string, number>();

export class Actors {
  private readonly by = new WeakMap<object, string>();
  /**
   * The tag of the event running, which what it makes inherits: a broker process an arrival from
   * g1 starts is `broker<g1`, so the state key tells which guest each broker process serves.
   */
  private current = ANY;
  /** While a channel sends: the receiver, whom the arrival callbacks made now act for. */
  private arrivalFor: string | null = null;

  constructor(sim: Simulator) {
    const outer = sim.wrap;
    sim.wrap = <T>(made: T): T => {
      const m = outer === null ? made : outer(made);
      const actor = (typeof m === "function" && this.arrivalFor) || this.current;
      if (actor !== ANY) this.by.set(m as object, actor);
      return m;
    };
  }

  private readonly kinds = new WeakMap<object, number>();

  /** Which code a callback runs (by its source text): two callbacks pending are told apart. */
  kind(fn: unknown): number {
    if (typeof fn !== "function") return -1;
    let k = this.kinds.get(fn);
    if (k === undefined) {
      const src = fn.toString();
      k = sources.get(src);
      if (k === undefined) sources.set(src, (k = sources.size));
      this.kinds.set(fn, k);
    }
    return k;
  }

  /** Marks `p` (spawned before tracking began) as acting for `actor`. */
  tag(p: Process<unknown>, actor: string): void {
    this.by.set(p._gen, actor);
  }

  /** Arrivals on `ch` sent by `guestId` act for the broker; the broker's, for `guest`. */
  watchSends(ch: LdcChannel, guestId: number, guest: string): void {
    const send = ch.send.bind(ch);
    ch.send = (from, pkt) => {
      this.arrivalFor = from === guestId ? `${BROKER}<${guest}` : `${guest}<${BROKER}`;
      try {
        return send(from, pkt);
      } finally {
        this.arrivalFor = null;
      }
    };
  }

  /** The tag of the event that resumes `p`, or else calls `fn`: its actor, and an arrival's sender. */
  tagOf(p: Process<unknown> | null, fn: unknown): string {
    const key = p === null ? fn : p._gen;
    return (typeof key === "object" || typeof key === "function") && key !== null
      ? (this.by.get(key) ?? ANY)
      : ANY;
  }

  /** Whom the event that resumes `p`, or else calls `fn`, acts for. */
  of(p: Process<unknown> | null, fn: unknown): string {
    return actorOf(this.tagOf(p, fn));
  }

  /** The event about to run, by its tag (ANY while a fault runs). */
  enter(tag: string): void {
    this.current = tag;
  }
}

/** The actor of a tag (a tag is an actor, or an arrival's `receiver<sender`), remembered. */
const actorOfTag = new Map<string, string>();
function actorOf(tag: string): string {
  let a = actorOfTag.get(tag);
  if (a === undefined) {
    const at = tag.indexOf("<");
    actorOfTag.set(tag, (a = at < 0 ? tag : tag.slice(0, at)));
  }
  return a;
}

/** A fault and the actors whose events it depends on (null: offered everywhere). */
export interface Fault {
  name: string;
  dependsOn: readonly string[] | null;
  run: () => void;
}

/**
 * The faults to offer before events acting for `due`: those an event due now depends on. The
 * others wait for a later event that does, or for the end of the schedule (explorer.ts).
 */
export function offered(faults: Fault[], due: ReadonlySet<string>): Fault[] {
  if (due.has(ANY)) return faults;
  return faults.filter((f) => f.dependsOn === null || f.dependsOn.some((a) => due.has(a)));
}

/**
 * Which of the events due now to offer (persistent sets over events): when every one acts for a
 * guest and two guests have events due, only the first guest's. A guest's events touch its own
 * memory, channel end, leases and TTEs, none of which the other guest's events touch, so the two
 * guests' events commute; the other guest's run next, at the same instant (time cannot move on
 * while they are due). A packet fate chosen in one guest's send and one in the other's draw on a
 * shared budget, but each order reaches what the other does where both fates are allowed. Any
 * event of the broker, or of ANY, may touch both guests' state: then every event is offered.
 * Returns the indices to offer, or null for all.
 */
export function offeredEvents(actors: readonly string[]): number[] | null {
  let first: string | null = null;
  let mixed = false;
  for (const a of actors) {
    if (a === ANY || a === BROKER) return null;
    if (first === null) first = a;
    else if (a !== first) mixed = true;
  }
  if (!mixed) return null;
  const out: number[] = [];
  for (let i = 0; i < actors.length; i++) if (actors[i] === first) out.push(i);
  return out;
}
