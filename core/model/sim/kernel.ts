import { CHOOSE_AGAIN, type EventChooser } from "./chooser.ts";
import { badDelay, describe } from "./describe.ts";
import { EventHeap } from "./heap.ts";
import { keepable } from "./ready.ts";

/** What a process may yield: a delay in integer ns (>= 0), or a Signal to wait for. */
// biome-ignore lint/suspicious/noExplicitAny: a process may wait on a signal of any value type
export type Yieldable = number | Signal<any>;
/** A process body; `yield` returns the awaited signal's value, hence the `any` for TNext. */
// biome-ignore lint/suspicious/noExplicitAny: `const v: T = yield sig` must type-check for any T
export type Proc<T = void> = Generator<Yieldable, T, any>;

// Heap ids: a callback event uses a slot id (>= 0) in the slot table, which supports cancel();
// a process event uses ~pid (< 0): a process has at most one pending event, so its resumption
// needs no slot, no closure and no allocation.
const FREE = 0;
const CALLBACK = 1;
const CANCELLED = 2; // tombstone: stays in the heap until popped or compacted
const MAX_TIME = Number.MAX_SAFE_INTEGER;
// Token = generation * SLOT_SPAN + slot, so a stale token never matches a reused slot.
const SLOT_BITS = 26;
const SLOT_SPAN = 2 ** SLOT_BITS;
const GEN_MASK = 2 ** (53 - SLOT_BITS) - 1;

/**
 * A one-shot event carrying a value; processes wait on it by yielding it. Yielding one that
 * already fired does not suspend: the process goes on at once, with no event (a free grant).
 */
export class Signal<T = void> {
  protected readonly sim: Simulator;
  protected _triggered = false;
  protected _value: T | undefined = undefined;
  // Waiters in arrival order: processes to resume or callbacks to run. Callbacks are typed
  // `never` so that a Signal<T> stays assignable to Signal<unknown>.
  protected waiters: (Process<unknown> | ((value: never) => void))[] | null = null;

  constructor(sim: Simulator) {
    this.sim = sim;
  }

  get triggered(): boolean {
    return this._triggered;
  }
  get value(): T | undefined {
    return this._value;
  }

  /** Fires the signal; waiters resume in FIFO order as events at the current time. */
  trigger(value: T): void {
    if (this._triggered) throw new Error("Signal already triggered");
    this._triggered = true;
    this._value = value;
    const ws = this.waiters;
    if (ws === null) return;
    this.waiters = null;
    for (let i = 0; i < ws.length; i++) this.wake(ws[i]);
  }

  /** Runs `fn(value)` as an event once triggered (at once, as the next event, if it already is). */
  onTrigger(fn: (value: T) => void): void {
    if (this._triggered) this.wake(fn);
    else (this.waiters ??= []).push(fn);
  }

  /** @internal A process yields this: -1 if not `sim`'s, 1 if fired (go on at once), 0: it waits. */
  _wait(p: Process<unknown>, sim: Simulator): number {
    if (sim !== this.sim) return -1;
    if (this._triggered) return 1;
    (this.waiters ??= []).push(p);
    return 0;
  }

  private wake(w: Process<unknown> | ((value: never) => void)): void {
    const value = this._value as T;
    if (w instanceof Process) this.sim._resume(w, value);
    else this.sim.schedule(0, () => (w as (value: T) => void)(value));
  }
}

/** A generator-driven activity; `done` triggers with the generator's return value. */
export class Process<T = void> {
  readonly done: Signal<T>;
  readonly name: string;
  /** @internal */ _gen: Proc<T>;
  /** @internal */ _resumeValue: unknown = undefined;
  /** @internal */ _finished = false;
  /** @internal Index in the simulator's process table while alive. */ _pid: number;

  constructor(sim: Simulator, gen: Proc<T>, name: string, pid: number) {
    this.done = new Signal<T>(sim);
    this.name = name;
    this._gen = gen;
    this._pid = pid;
  }

  get finished(): boolean {
    return this._finished;
  }
}

/** Discrete-event simulator with an integer-ns clock and a typed-array event heap. */
export class Simulator {
  private _now = 0;
  private processed = 0;
  private tombstones = 0; // cancelled events still in the heap
  private stopped = false;
  private running = false;
  private spawned = 0;
  /** Orders simultaneous events when set (exploration); null keeps FIFO order and the fast loop. */
  chooser: EventChooser | null = null;
  /** Wraps each new process's generator and each callback when set (the harness names their plugin). */
  wrap: (<T>(made: T) => T) | null = null;
  private readonly ready: number[] = [];
  private readonly heap = new EventHeap(64); // grown as needed: a short run (a schedule) needs few
  // Live processes by pid; finished pids are reused so per-request processes do not leak.
  private procs: (Process<unknown> | null)[] = [];
  private freePids: number[] = [];
  // Slot table: handler object, kind and generation per slot; free slots form a stack.
  private slotObj: unknown[] = [];
  private slotKind = new Uint8Array(64);
  private slotGen = new Float64Array(64);
  private freeStack = new Int32Array(64);
  private freeTop = 0;
  private slotCount = 0;

  get now(): number {
    return this._now;
  }
  get eventsProcessed(): number {
    return this.processed;
  }
  get pending(): number {
    return this.heap.size - this.tombstones;
  }
  /** Runs `fn` after `delayNs`; returns a token for cancel(). */
  schedule(delayNs: number, fn: () => void): number {
    if (!(Number.isSafeInteger(delayNs) && delayNs >= 0)) throw badDelay("delay", delayNs);
    if (typeof fn !== "function") throw new TypeError("schedule: fn must be a function");
    return this.push(this._now + delayNs, fn);
  }

  /** Runs `fn` at absolute time `timeNs` (>= now); returns a token for cancel(). */
  at(timeNs: number, fn: () => void): number {
    if (!(Number.isSafeInteger(timeNs) && timeNs >= 0)) throw badDelay("time", timeNs);
    if (timeNs < this._now) {
      throw new RangeError(`at(${timeNs}) is in the past (now = ${this._now})`);
    }
    if (typeof fn !== "function") throw new TypeError("at: fn must be a function");
    return this.push(timeNs, fn);
  }

  /** Cancels a scheduled callback in O(1); false if it already ran or was cancelled. */
  cancel(token: number): boolean {
    if (!(Number.isSafeInteger(token) && token >= 0)) return false;
    const slot = token % SLOT_SPAN;
    if (slot >= this.slotCount || this.slotKind[slot] !== CALLBACK) return false;
    if (this.slotGen[slot] !== (token - slot) / SLOT_SPAN) return false;
    this.slotKind[slot] = CANCELLED;
    this.slotObj[slot] = null; // let the closure be collected now
    this.tombstones++;
    // Compact when tombstones dominate, so a cancel-heavy model cannot bloat the heap.
    if (this.tombstones > 4096 && this.tombstones * 2 > this.heap.size) this.compact();
    return true;
  }

  /** Starts a generator process; its first step runs as an event `delayNs` (default 0) from now. */
  spawn<T>(gen: Proc<T>, name?: string, delayNs = 0): Process<T> {
    if (gen === null || typeof gen !== "object" || typeof gen.next !== "function")
      throw new TypeError("spawn: expected a generator object (call the generator function)");
    if (!(Number.isSafeInteger(delayNs) && delayNs >= 0)) throw badDelay("spawn delay", delayNs);
    gen = keepable(gen); // a ready() value is shared: the process keeps its own
    if (this.wrap !== null) gen = this.wrap(gen);
    this.spawned++;
    const pid = this.freePids.length > 0 ? this.freePids.pop()! : this.procs.length;
    const p = new Process<T>(this, gen, name ?? `process-${this.spawned}`, pid);
    this.procs[pid] = p;
    this.heap.push(this._now + delayNs, ~pid);
    return p;
  }

  signal<T = void>(): Signal<T> {
    return new Signal<T>(this);
  }

  /** Runs events in (time, insertion) order up to and including `untilNs`, then sets now = untilNs. */
  run(untilNs: number = Number.POSITIVE_INFINITY): void {
    if (this.running) throw new Error("run() called from inside an event");
    if (untilNs !== Number.POSITIVE_INFINITY) {
      if (!Number.isSafeInteger(untilNs)) throw badDelay("until", untilNs);
      if (untilNs < this._now) {
        throw new RangeError(`run(${untilNs}) is in the past (now = ${this._now})`);
      }
    }
    this.stopped = false;
    this.running = true;
    const heap = this.heap;
    try {
      // Checked once per run(), not per event: without a chooser the loop below is unchanged.
      if (this.chooser !== null) {
        this.runChosen(untilNs, this.chooser);
        return;
      }
      while (heap.size > 0) {
        const t = heap.peekTime();
        if (t > untilNs) break;
        const id = heap.pop();
        if (id < 0) {
          this._now = t;
          this.processed++;
          this.step(this.procs[~id]!);
        } else {
          const kind = this.slotKind[id];
          const fn = this.slotObj[id] as () => void;
          this.release(id); // before dispatch, so a handler that reschedules reuses the slot
          if (kind === CANCELLED) {
            this.tombstones--;
            continue;
          }
          this._now = t;
          this.processed++;
          fn();
        }
        if (this.stopped) return;
      }
      if (untilNs !== Number.POSITIVE_INFINITY) this._now = untilNs;
    } finally {
      this.running = false;
    }
  }

  /** run() with a chooser: takes every live event due at the earliest time, runs the chosen one. */
  private runChosen(untilNs: number, choose: EventChooser): void {
    const heap = this.heap;
    const ready = this.ready;
    const candidate = (i: number) => (ready[i]! < 0 ? this.procs[~ready[i]!]! : null);
    const callback = (i: number) => (ready[i]! < 0 ? undefined : this.slotObj[ready[i]!]);
    while (heap.size > 0) {
      const t = heap.peekTime();
      if (t > untilNs) break;
      ready.length = 0;
      let k = CHOOSE_AGAIN;
      while (k === CHOOSE_AGAIN) {
        // Again: the chooser's change may have cancelled some and made more due at t.
        while (heap.size > 0 && heap.peekTime() === t) ready.push(heap.pop());
        let n = 0;
        for (const id of ready)
          if (id >= 0 && this.slotKind[id] === CANCELLED) {
            this.release(id);
            this.tombstones--;
          } else ready[n++] = id;
        if ((ready.length = n) === 0) break;
        this._now = t;
        k = choose(n, candidate, callback);
      }
      if (ready.length === 0) continue;
      if (!(Number.isInteger(k) && k >= 0 && k < ready.length))
        throw new RangeError(`chooser picked ${k} of ${ready.length} events`);
      const id = ready[k]!;
      // The others go back in their order; all events due at t were taken, so FIFO is kept.
      for (let i = 0; i < ready.length; i++) if (i !== k) heap.push(t, ready[i]!);
      this.processed++;
      if (id < 0) this.step(this.procs[~id]!);
      else {
        const fn = this.slotObj[id] as () => void;
        this.release(id);
        fn();
      }
      if (this.stopped) return;
    }
    if (untilNs !== Number.POSITIVE_INFINITY) this._now = untilNs;
  }

  /** Every pending event (time, the process it resumes or null, a callback's function). */
  forEachPending(fn: (t: number, p: Process<unknown> | null, callback?: unknown) => void): void {
    this.heap.forEach((t, id) => {
      if (id < 0) fn(t, this.procs[~id]!);
      else if (this.slotKind[id] === CALLBACK) fn(t, null, this.slotObj[id]);
    });
  }

  /** Makes run() return after the current event. */
  stop(): void {
    this.stopped = true;
  }

  /** @internal Schedules process `p` to resume with `value` at time `t` (>= now; default now). */
  _resume(p: Process<unknown>, value: unknown, t = this._now): void {
    p._resumeValue = value;
    this.heap.push(t, ~p._pid);
  }

  /**
   * Resumes `p` until it waits: a delay or an untriggered signal ends the step; a signal that
   * already fired (a free resource's grant) continues the process at once, without an event.
   */
  private step(p: Process<unknown>): void {
    let value = p._resumeValue;
    p._resumeValue = undefined;
    const gen = p._gen;
    for (;;) {
      let r: IteratorResult<Yieldable, unknown>;
      try {
        r = gen.next(value);
      } catch (err) {
        this.finish(p);
        const msg = err instanceof Error ? err.message : String(err);
        throw new Error(`process "${p.name}" failed at t=${this._now}ns: ${msg}`, { cause: err });
      }
      if (r.done === true) {
        this.finish(p);
        p.done.trigger(r.value);
        return;
      }
      const v = r.value;
      if (typeof v === "number") {
        const t = this._now + v;
        // One test rejects negative, NaN, infinite, fractional and overflowing delays.
        if (!(v >= 0 && t <= MAX_TIME && Math.floor(v) === v)) {
          this.finish(p);
          throw badDelay(`process "${p.name}" yielded a delay that`, v);
        }
        this.heap.push(t, ~p._pid);
        return;
      }
      const w = v instanceof Signal ? v._wait(p, this) : -2;
      if (w === 0) return;
      if (w < 0) {
        this.finish(p);
        throw w === -1
          ? new Error(`process "${p.name}" yielded a Signal of another Simulator`)
          : new TypeError(
              `process "${p.name}" yielded ${describe(v)}; expected a delay in ns or a Signal`,
            );
      }
      value = (v as Signal<unknown>).value;
    }
  }

  private finish(p: Process<unknown>): void {
    p._finished = true;
    this.procs[p._pid] = null;
    this.freePids.push(p._pid);
  }

  private push(time: number, fn: () => void): number {
    if (this.wrap !== null) fn = this.wrap(fn);
    if (time > MAX_TIME) {
      throw new RangeError(`event time ${time} ns exceeds Number.MAX_SAFE_INTEGER`);
    }
    const slot = this.freeTop > 0 ? this.freeStack[--this.freeTop] : this.newSlot();
    this.slotKind[slot] = CALLBACK;
    this.slotObj[slot] = fn;
    this.heap.push(time, slot);
    return this.slotGen[slot] * SLOT_SPAN + slot;
  }

  private release(slot: number): void {
    this.slotKind[slot] = FREE;
    this.slotObj[slot] = null;
    // Wrapping the generation keeps tokens below 2^53.
    this.slotGen[slot] = this.slotGen[slot] === GEN_MASK ? 0 : this.slotGen[slot] + 1;
    this.freeStack[this.freeTop++] = slot;
  }

  private newSlot(): number {
    const slot = this.slotCount;
    if (slot >= SLOT_SPAN) throw new RangeError(`more than ${SLOT_SPAN} pending callback events`);
    this.slotCount++;
    if (slot === this.slotKind.length) {
      const cap = slot * 2;
      const kinds = new Uint8Array(cap);
      kinds.set(this.slotKind);
      this.slotKind = kinds;
      const gens = new Float64Array(cap);
      gens.set(this.slotGen);
      this.slotGen = gens;
      const free = new Int32Array(cap);
      free.set(this.freeStack);
      this.freeStack = free;
    }
    this.slotObj.push(null);
    return slot;
  }

  /** Drops tombstones from the heap; pop order of the remaining events is unchanged. */
  private compact(): void {
    const kinds = this.slotKind;
    const dead: number[] = [];
    this.heap.retain((slot) => {
      if (slot < 0 || kinds[slot] !== CANCELLED) return true; // < 0: a process event
      dead.push(slot);
      return false;
    });
    for (const slot of dead) this.release(slot);
    this.tombstones = 0;
  }
}
