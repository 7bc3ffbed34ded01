/**
 * The explored world's one symmetry: its two guests run the same workload on devices alike, so a
 * state and the state with the guests' roles swapped have the same futures up to the swap (Ip and
 * Dill 1996, "Better verification through symmetry"). The state key can be written as the swapped
 * world's key (GuestSwap renames what names a guest); the explorer keeps the smaller hash of the
 * two, so a state and its image are one state. What names a guest: its domain id (the ownership
 * table, the broker's sessions, the global policy's ledger), its name (process and actor labels),
 * its memory (the physical page a TTE points to) and its channel (ids equal the domain's).
 */
import type { DvmaBroker } from "../../model/domains/broker.ts";
import type { Platform } from "../../model/domains/platform.ts";
import { intern, internedString, type KeyWriter, policyFields } from "./key-parts.ts";

/**
 * Fields of the global policy (the host's checked wrapper and the first-fit policy the explorer
 * runs) whose values name no domain, and those that hold domains: a Map keyed by domain, or a
 * per-page array of owner + 1. A field in neither list stops the swapped key: a policy with
 * state of unknown meaning cannot be renamed, and the reduction must then be turned off.
 */
const NO_DOMAIN = new Set([
  "plugin",
  "windowPages",
  "onError",
  "live",
  "grants",
  "refusals",
  "maxPagesPerGuest",
  "starts",
  "lengths",
  "free",
]);
const BY_DOMAIN = new Set(["perDomain", "held"]);
const OWNER_PLUS_ONE = new Set(["owner"]);

/** Per pair of guest names: interned label -> the label swapped, and the swap (same in every world). */
const renamed = new Map<string, { ids: number[]; swap: (s: string) => string }>();

/** Swaps two names where they stand as words (`guest-g1`, `broker<g2`). */
function swapper(a: string, b: string): (s: string) => string {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const re = new RegExp(`(?<![A-Za-z0-9_])(${esc(a)}|${esc(b)})(?![A-Za-z0-9_])`, "g");
  return (s) => s.replace(re, (m) => (m === a ? b : a));
}

export class GuestSwap {
  /** Guest indices (Platform.guests) in the swapped world's order. */
  readonly order: number[];
  private readonly doms = new Map<number, number>();
  /** Per guest: its first physical page and page count. */
  private readonly mem: { first: number; n: number }[] = [];
  private readonly names: { ids: number[]; swap: (s: string) => string };

  constructor(platform: Platform) {
    const { guests, hv } = platform;
    if (guests.length !== 2) throw new RangeError("the guest swap needs exactly two guests");
    this.order = [1, 0];
    const [a, b] = guests as [(typeof guests)[0], (typeof guests)[0]];
    this.doms.set(a.id, b.id).set(b.id, a.id);
    for (const g of guests) {
      const segs = hv.domains[g.id]!.mem.segments;
      if (segs.length !== 1) throw new RangeError("the guest swap needs one memory segment each");
      this.mem.push({ first: segs[0]!.paPage, n: segs[0]!.npages });
    }
    if (this.mem[0]!.n !== this.mem[1]!.n) throw new RangeError("the guests' memory differs");
    const pair = `${a.name}|${b.name}`;
    let names = renamed.get(pair);
    if (names === undefined)
      renamed.set(pair, (names = { ids: [], swap: swapper(a.name, b.name) }));
    this.names = names;
  }

  /** The domain id in the swapped world. */
  dom(d: number): number {
    return this.doms.get(d) ?? d;
  }

  /** The physical page in the swapped world: the other guest's page at the same offset. */
  page(p: number): number {
    const [a, b] = this.mem as [{ first: number; n: number }, { first: number; n: number }];
    if (p >= a.first && p < a.first + a.n) return p - a.first + b.first;
    if (p >= b.first && p < b.first + b.n) return p - b.first + a.first;
    return p;
  }

  /** An interned label (a process or actor name) with the guests' names swapped. */
  name(id: number): number {
    const { ids, swap } = this.names;
    let r = ids[id];
    if (r === undefined) ids[id] = r = intern(swap(internedString(id)));
    return r;
  }

  /** The global policy of a window, its domains renamed (Maps keep their order: who came first). */
  globalPolicy(w: KeyWriter, policy: object): void {
    const objs = [policy, (policy as { inner?: object }).inner];
    for (const o of objs) {
      if (o === undefined) continue;
      const r = o as Record<string, unknown>;
      const names = policyFields(o);
      w.list(names.length);
      for (const n of names) {
        const v = r[n];
        if (NO_DOMAIN.has(n)) w.value(v);
        else if (BY_DOMAIN.has(n) && v instanceof Map) {
          w.list(v.size);
          for (const [k, x] of v) {
            w.list(2);
            w.value(this.dom(k as number));
            w.value(x);
          }
        } else if (OWNER_PLUS_ONE.has(n) && v instanceof Uint16Array)
          w.value(v.map((x) => (x === 0 ? 0 : this.dom(x - 1) + 1)));
        else throw new Error(`guest symmetry: the global policy's field "${n}" is not known`);
      }
    }
  }
}

/** The broker's sessions (a Map made at boot, in domain order) as the (swapped) world holds them. */
export function writeSessions(w: KeyWriter, broker: DvmaBroker, swap: GuestSwap | null): void {
  const sessions = (broker as unknown as { sessions: Map<number, unknown> }).sessions;
  w.list(sessions.size);
  for (const k of sessions.keys()) {
    w.list(2);
    w.num(k);
    w.value(sessions.get(swap === null ? k : swap.dom(k)));
  }
}
