/**
 * Exhaustive exploration of the DVMA protocol (stateless, replaying): every run boots a fresh
 * world and replays a schedule prefix from the initial state, then takes the first option at each
 * later choice point; depth-first backtracking turns the last choice with an untried option into
 * the next prefix. A choice point is, before each event, which of the events due at that instant
 * runs or which fault strikes first, or an LDC packet's fate. The model's processes are generators, which cannot be copied,
 * so replay (as CHESS and other stateless explorers do) rather than snapshots is what gets back to
 * a state. Repeated states are pruned by a 64-bit hash of what the future depends on
 * (ExploreWorld.writeKey): a state already seen has had (or is having) its subtree explored. With
 * the guest symmetry (symmetry.ts) a state and its guest-swapped image share one hash.
 */
import { CHOOSE_AGAIN, type EventChooser } from "../../model/sim/chooser.ts";
import type { Process } from "../../model/sim/kernel.ts";
import { intern, KeyWriter } from "./key-parts.ts";
import { Actors, ANY, type Fault, offered, offeredEvents } from "./reduce.ts";
import { SeenStates } from "./seen.ts";
import { GuestSwap } from "./symmetry.ts";
import { type ExploreBounds, ExploreWorld, type PolicyMaker } from "./world.ts";

const NONE: readonly Fault[] = [];
/** The state key's buffer, reused by every schedule (a key is written and hashed at once). */
const w = new KeyWriter();

/** A schedule that does not fit the model (a user's --replay), not a finding. */
export class ScheduleError extends RangeError {}

export interface ExploreOptions {
  bounds: ExploreBounds;
  policies: PolicyMaker;
  /** Prune states whose hash was seen (off: every schedule is run to its end). */
  prune: boolean;
  /** Offer faults only before events that depend on them, one guest's events at a time (reduce.ts). */
  reduce?: boolean;
  /**
   * A state and the state with the two guests swapped are one state (symmetry.ts). `bun run
   * explore` turns it on (`--no-symmetry` off); with and without it the same end states are
   * reached up to the swap (symmetry.test.ts, and 168 = 168 at the default bounds).
   */
  symmetry?: boolean;
  /** Stop (incomplete) after this many distinct states. */
  maxStates: number;
  /** Called with the counts so far every 1,000 schedules. */
  progress?: (r: Readonly<ExploreResult>) => void;
}

interface Point {
  n: number;
  k: number;
  what: string;
}

/** What one schedule hands the next in explore(). */
export interface Carry {
  /** The kernel choices of the schedule `prefix` was cut from: replayed without their options. */
  last?: readonly Choice[];
  /** End states' hashes seen, each with its class (the smaller of it and its image's). */
  classOf?: Map<bigint, bigint>;
}

/**
 * One kernel choice as made: its options (n), the event run (its index among those due) or the
 * fault struck (by name), and the faults held back for the end of the schedule.
 */
export interface Choice {
  n: number;
  event: number;
  fault: string;
  waiting: readonly Fault[];
}

export interface RunOutcome {
  /** Choice points with more than one option, in order, with the option taken. */
  trail: Point[];
  violations: string[];
  pruned: boolean;
  events: number;
}

export interface ExploreResult {
  /** Distinct states seen (by hash) at the points where the kernel picks the next event. */
  states: number;
  /** Schedules run (each from the initial state). */
  schedules: number;
  /** Schedules cut short at a state already seen. */
  pruned: number;
  /** Events executed over all schedules. */
  events: number;
  /** Longest schedule, in choice points. */
  maxDepth: number;
  /** Distinct end states (quiescent), by hash (with the symmetry: a state and its image are one). */
  endStates: number;
  /** Their hashes. */
  endKeys: Set<bigint>;
  /** The end states up to the guest swap (the smaller hash of each and its image), either way. */
  endClasses: Set<bigint>;
  complete: boolean;
  counterexample?: { schedule: number[]; violations: string[] };
}

export interface ScheduleOptions {
  /** Each choice point, named (its `what` in the trail is filled only when this is given). */
  onStep?: (what: string, k: number, n: number) => void;
  /** The fault and event reduction (default on): see ExploreOptions.reduce. */
  reduce?: boolean;
  /** The guest symmetry (default off): see ExploreOptions.symmetry. */
  symmetry?: boolean;
  /** What explore() carries from one schedule to the next (see Carry). */
  carry?: Carry;
}

/**
 * Runs one schedule: `prefix` first, then option 0 everywhere; `seen` prunes when given. A
 * schedule found with the reduction on replays only with it on (the options differ).
 */
export function runSchedule(
  bounds: ExploreBounds,
  policies: PolicyMaker,
  prefix: readonly number[],
  seen: SeenStates | null,
  opts: ScheduleOptions = {},
): RunOutcome & { endKey: bigint | null; endClass: bigint | null; choices: Choice[] } {
  const { onStep, reduce = true, symmetry = false, carry = {} } = opts;
  const trail: Point[] = [];
  let pruned = false;
  const violations: string[] = [];
  const choose = (n: number, what: string): number => {
    if (n <= 1 || pruned) return 0;
    const pos = trail.length;
    const k = pos < prefix.length ? prefix[pos]! : 0;
    if (!(k >= 0 && k < n))
      throw new ScheduleError(`schedule step ${pos} picks ${k}, but that point has ${n} options`);
    const point = { n, k, what };
    trail.push(point);
    // A kernel choice point is named (and reported) by the chooser once it knows the choice.
    if (what !== "") onStep?.(what, k, n);
    return k;
  };
  const world = new ExploreWorld(bounds, policies, choose);
  const { sim } = world.platform;
  // Whom each event acts for: in the state key always, in what faults are offered with `reduce`.
  const actors = new Actors(sim);
  for (const [i, g] of world.platform.guests.entries()) {
    actors.tag(world.workloads[i]!, g.name);
    actors.watchSends(g.channel, g.id, g.name);
  }
  const due = new Set<string>();
  const live = new Set<Process<unknown>>();
  // An event as a replay prints it.
  const name = (p: Process<unknown> | null): string =>
    p === null ? "callback" : `${p.name}@${steps.get(p) ?? 0}`;
  const labels: string[] = [];
  // The events in the state key: whether due now, live or pending, the delay, what runs (a
  // process's name and steps, or a callback's code) and whom it acts for (PENDING_WIDTH each).
  const pending: number[] = [];
  const event = (list: number, delay: number, p: Process<unknown> | null, f: unknown) => {
    if (p === null) pending.push(list, delay, -2 - actors.kind(f), 0);
    else pending.push(list, delay, intern(p.name), steps.get(p) ?? 0);
    pending.push(intern(actors.tagOf(p, f)));
  };
  const pendingEvent = (t: number, p: Process<unknown> | null, f?: unknown) =>
    event(2, t - sim.now, p, f);
  let swap: GuestSwap | null = null;
  const keyOf = (swapped: boolean): bigint => {
    if (swapped) swap ??= new GuestSwap(world.platform);
    w.reset();
    world.writeKey(w, pending, swapped ? swap : null);
    return w.digest();
  };
  // The smaller of the state's hash and its guest-swapped image's.
  const hashKey = (sym: boolean): bigint => {
    const h = keyOf(false);
    if (!sym) return h;
    const g = keyOf(true);
    if (g < h) return g; // bigints: no Math.min
    return h;
  };
  // Faults the last choice point held back: offered once more when the schedule ends.
  let waiting: readonly Fault[] = NONE;
  const strikeAtEnd = (): boolean => {
    if (!reduce || waiting.length === 0) return false;
    const bad = trail.length >= prefix.length ? world.violations() : [];
    if (bad.length > 0) {
      violations.push(...bad);
      return false;
    }
    const faults = world.faultOptions().filter((f) => waiting.some((w) => w.name === f.name));
    if (faults.length === 0) return false;
    const k = choose(faults.length + 1, "");
    const f = k === 0 ? null : faults[k - 1]!;
    if (onStep) {
      const at = trail[trail.length - 1]!;
      at.what = `t=${sim.now} ${f === null ? "end" : f.name} (at the end)`;
      onStep(at.what, k, faults.length + 1);
    }
    if (f === null) return false;
    waiting = waiting.filter((w) => w.name !== f.name);
    f.run();
    return true;
  };
  // Steps each process has taken: with its name, where a generator (which cannot be read) stands.
  const steps = new WeakMap<Process<unknown>, number>();
  // Asked before every event (also when only one is due), so the invariants hold in every state;
  // a fault the budget allows is one more option, after which the kernel asks again (with what the
  // fault made due now). While the prefix replays, every state is one an earlier schedule reached
  // and checked (and hashed): the checks start where this schedule leaves the prefix.
  const acts: string[] = [];
  const named = (what: string): string => {
    trail[trail.length - 1]!.what = what;
    return what;
  };
  let clock = 0;
  const choices: Choice[] = [];
  // Where the prefix's last point (the one that differs from `last`'s schedule) stands.
  const branch = prefix.length - 1;
  const chooser: EventChooser = (n, candidate, fn) => {
    actors.enter(ANY); // what the checks and faults below do acts for no one event
    const fresh = trail.length >= prefix.length;
    const bad = fresh ? world.violations() : [];
    // Time never runs backwards (a fault struck here acts at the instant of the events due).
    if (sim.now < clock) bad.push(`the clock went back from ${clock} ns to ${sim.now} ns`);
    clock = sim.now;
    if (bad.length > 0 || pruned) {
      violations.push(...bad);
      sim.stop();
      return 0;
    }
    if (world.restartOverdue()) return CHOOSE_AGAIN;
    // Before the branch point the schedule is `last`'s: its choices need not be worked out again.
    const was = carry.last?.[choices.length];
    if (was !== undefined && (trail.length < branch || (trail.length === branch && was.n <= 1))) {
      choices.push(was);
      waiting = was.waiting;
      if (was.n > 1) choose(was.n, "");
      if (was.event >= 0) return pick(was.event, candidate, fn);
      world
        .faultOptions()
        .find((f) => f.name === was.fault)!
        .run();
      return CHOOSE_AGAIN;
    }
    let faults = world.faultOptions();
    // The events offered: their indices among the n due (all of them unless reduced).
    let events: number[] | null = null;
    if (reduce) {
      acts.length = 0;
      for (let i = 0; i < n; i++) acts.push(actors.of(candidate(i), fn(i)));
      events = offeredEvents(acts);
      due.clear();
      for (let i = 0; i < n; i++) if (events === null || events.includes(i)) due.add(acts[i]!);
      const all = faults;
      faults = offered(all, due);
      waiting = faults.length === all.length ? NONE : all.filter((f) => !faults.includes(f));
    }
    const m = events === null ? n : events.length;
    const total = m + faults.length;
    let k = 0;
    if (total > 1) {
      const hashing = seen !== null && fresh;
      labels.length = 0;
      if (onStep) for (let i = 0; i < n; i++) labels.push(name(candidate(i)));
      if (hashing) {
        pending.length = 0;
        for (let i = 0; i < n; i++) event(0, 0, candidate(i), fn(i));
        for (const q of live)
          if (q.finished) live.delete(q);
          else event(1, 0, q, null);
        sim.forEachPending(pendingEvent);
        if (seen.visit(hashKey(symmetry), world.budgets())) {
          pruned = true;
          sim.stop();
          return 0;
        }
      }
      k = choose(total, "");
      if (k >= m) {
        const f = faults[k - m]!;
        if (onStep) onStep(named(`t=${sim.now} ${f.name}`), k, total);
        choices.push({ n: total, event: -1, fault: f.name, waiting });
        f.run();
        return CHOOSE_AGAIN;
      }
      if (events !== null) k = events[k]!;
      if (onStep) {
        const of = n > 1 ? ` (of ${labels.join(" ")})` : "";
        onStep(named(`t=${sim.now} run ${labels[k]}${of}`), trail[trail.length - 1]!.k, total);
      }
    }
    choices.push({ n: total, event: k, fault: "", waiting });
    return pick(k, candidate, fn);
  };
  // Event `k` of those due runs next: it acts for whom it is tagged with, and takes a step.
  const pick = (
    k: number,
    candidate: (i: number) => Process<unknown> | null,
    fn: (i: number) => unknown,
  ): number => {
    const p = candidate(k);
    actors.enter(actors.tagOf(p, fn(k)));
    if (p !== null) {
      steps.set(p, (steps.get(p) ?? 0) + 1);
      live.add(p);
    }
    return k;
  };
  sim.chooser = chooser;
  try {
    do {
      sim.run();
      actors.enter(ANY);
    } while (violations.length === 0 && !pruned && (strikeAtEnd() || world.settle()));
  } catch (e) {
    const cause = e instanceof Error && e.cause instanceof ScheduleError ? e.cause : e;
    if (cause instanceof ScheduleError) throw cause;
    violations.push(`crash: ${e instanceof Error ? e.message : String(e)}`);
  }
  let endKey: bigint | null = null;
  let endClass: bigint | null = null;
  if (violations.length === 0 && !pruned) {
    pending.length = 0;
    // Most schedules end in a state seen before: its image's key is worked out once.
    const h = keyOf(false);
    endClass = carry.classOf?.get(h) ?? hashKey(true);
    carry.classOf?.set(h, endClass);
    endKey = symmetry ? endClass : h;
    violations.push(...world.quiescentViolations());
  }
  return { trail, violations, pruned, events: sim.eventsProcessed, endKey, endClass, choices };
}

/** Depth-first over every schedule within `bounds`; stops at the first violation. */
export function explore(opts: ExploreOptions): ExploreResult {
  const seen = new SeenStates();
  const ends = new Set<bigint>();
  const classes = new Set<bigint>();
  const r: ExploreResult = {
    states: 0,
    schedules: 0,
    pruned: 0,
    events: 0,
    maxDepth: 0,
    endStates: 0,
    endKeys: ends,
    endClasses: classes,
    complete: true,
  };
  let prefix: number[] = [];
  const carry: Carry = { classOf: new Map() };
  for (;;) {
    const out = runSchedule(opts.bounds, opts.policies, prefix, opts.prune ? seen : null, {
      reduce: opts.reduce ?? true,
      symmetry: opts.symmetry ?? false,
      carry,
    });
    carry.last = out.choices;
    r.schedules++;
    r.events += out.events;
    if (r.schedules % 1000 === 0 && opts.progress) {
      r.states = seen.size;
      opts.progress(r);
    }
    if (out.pruned) r.pruned++;
    if (out.endKey !== null) ends.add(out.endKey);
    if (out.endClass !== null) classes.add(out.endClass);
    r.maxDepth = Math.max(r.maxDepth, out.trail.length);
    if (out.violations.length > 0) {
      r.counterexample = { schedule: out.trail.map((p) => p.k), violations: out.violations };
      break;
    }
    let i = out.trail.length - 1;
    while (i >= 0 && out.trail[i]!.k + 1 >= out.trail[i]!.n) i--;
    if (i < 0) break;
    if (seen.size >= opts.maxStates) {
      r.complete = false;
      break;
    }
    prefix = out.trail.slice(0, i).map((p) => p.k);
    prefix.push(out.trail[i]!.k + 1);
  }
  r.states = seen.size;
  r.endStates = ends.size;
  return r;
}
