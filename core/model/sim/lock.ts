import type { Signal, Simulator } from "./kernel.ts";
import { Histogram } from "./stats.ts";

/**
 * How a waiter spends the time it waits: a "spin" waiter keeps its CPU and burns it (Linux
 * spinlocks, the iommu-common pool locks); a "sleep" waiter gives its CPU up (a mutex).
 */
export type LockKind = "spin" | "sleep";

/**
 * A mutual-exclusion lock in simulated time with a strict FIFO wait queue: release() hands the
 * lock straight to the oldest waiter, so nobody barges in. The lock itself knows nothing of
 * CPUs: what a waiter does with its CPU while it waits is the caller's business (see
 * DomainCpu.lock). An uncontended acquire is tryAcquire(): no signal, no event.
 *
 * A holder that takes the lock now and knows how long it will hold it (a policy call replayed
 * on a vCPU it keeps spinning) may book its hold instead (book): it gets the lock after the
 * holds booked before it, as a FIFO waiter would, with no event. A waiter queued behind booked
 * holds is handed the lock when the last ends. Figures of a booked hold count from the time it
 * starts (acquisition, wait) and ends (hold), as an event-driven hold's would.
 */
export class Lock {
  private held = false;
  private since = 0;
  // Waiters live in waitQ[head..] with the time each arrived (negative: -1 - time for a waiter
  // that keeps its CPU spinning); the consumed prefix is dropped when large.
  private waitQ: Signal<void>[] = [];
  private arrived: number[] = [];
  private head = 0;
  // End of the last booked hold; figures of booked holds not yet due, flat [time, wait (-1: a
  // hold's end), length]; the token of the wake-up that hands the lock on after them.
  private freeAt = 0;
  private due: number[] = [];
  private nextDue = 0;
  private wakeToken = -1;
  private readonly st = {
    acquisitions: 0,
    /** Acquisitions that had to wait. */
    contended: 0,
    /** Total time the lock was held, ns (a hold still running is not counted yet). */
    holdNs: 0,
    /** Total time waiters spent waiting for it, ns. */
    waitNs: 0,
    /** Longest single wait, ns. */
    maxWaitNs: 0,
    /** Longest single wait of a waiter that kept its CPU spinning, ns. */
    maxSpinNs: 0,
  };
  private readonly holdH = new Histogram();
  private readonly waitH = new Histogram();

  constructor(
    private readonly sim: Simulator,
    readonly name: string,
    readonly kind: LockKind = "spin",
  ) {}

  /** Acquisitions, waits and holds so far (a hold still running is not counted yet). */
  get stats(): Readonly<typeof this.st> {
    this.settle();
    return this.st;
  }

  /** Every completed hold, ns (a hold still running is not counted yet). */
  get holds(): Histogram {
    this.settle();
    return this.holdH;
  }

  /** Every wait of an acquisition that had to wait, ns (an uncontended one is not a wait). */
  get waits(): Histogram {
    this.settle();
    return this.waitH;
  }

  get locked(): boolean {
    return this.held || this.freeAt > this.sim.now;
  }

  get queued(): number {
    return this.waitQ.length - this.head;
  }

  /** Takes the lock now if it is free (nobody holds it, nobody waits, no booked hold is running). */
  tryAcquire(): boolean {
    if (this.held || this.freeAt > this.sim.now || this.waitQ.length > this.head) return false;
    this.held = true;
    this.since = this.sim.now;
    this.st.acquisitions++;
    return true;
  }

  /**
   * Joins the queue; the signal triggers when the lock is handed to the caller. Only after
   * tryAcquire() failed. `spinning`: the waiter keeps its CPU busy meanwhile (maxSpinNs).
   */
  wait(spinning = this.kind === "spin"): Signal<void> {
    const sig = this.sim.signal<void>();
    this.waitQ.push(sig);
    this.arrived.push(spinning ? -1 - this.sim.now : this.sim.now);
    // Queued behind booked holds only: handed the lock when the last ends.
    if (!this.held && this.wakeToken < 0)
      this.wakeToken = this.sim.at(this.freeAt, () => {
        this.wakeToken = -1;
        this.handOn();
      });
    return sig;
  }

  /** Releases the lock: to the oldest waiter if any (its wait ends now), else free. */
  release(): void {
    if (!this.held) throw new Error(`Lock "${this.name}" released while not held`);
    const now = this.sim.now;
    this.st.holdNs += now - this.since;
    this.holdH.record(now - this.since);
    this.held = false;
    this.handOn();
  }

  /**
   * For a caller that asks for the lock now and will hold it `ns`: books its hold after every
   * hold booked before it and returns when it starts, or -1 if the lock is held or waited for
   * (the caller takes it with tryAcquire/wait instead).
   */
  book(ns: number): number {
    const start = this.bookFrom();
    if (start < 0) return -1;
    const now = this.sim.now;
    this.freeAt = start + ns;
    this.due.push(start, start - now, 0, start + ns, -1, ns);
    if (start < this.nextDue) this.nextDue = start;
    this.settle();
    return start;
  }

  /** When a hold booked now would start, or -1 if it cannot be booked (held or waited for). */
  bookFrom(): number {
    if (this.held || this.waitQ.length > this.head) return -1;
    return Math.max(this.freeAt, this.sim.now);
  }

  /** The lock is free now: to the oldest waiter if any. */
  private handOn(): void {
    if (this.head === this.waitQ.length) return;
    const now = this.sim.now;
    const next = this.waitQ[this.head]!;
    const at = this.arrived[this.head]!;
    const waited = now - (at < 0 ? -1 - at : at);
    this.waitQ[this.head] = undefined as unknown as Signal<void>;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.waitQ.length) {
      this.waitQ = this.waitQ.slice(this.head);
      this.arrived = this.arrived.slice(this.head);
      this.head = 0;
    }
    this.held = true;
    this.since = now;
    this.st.acquisitions++;
    this.st.contended++;
    this.st.waitNs += waited;
    if (waited > this.st.maxWaitNs) this.st.maxWaitNs = waited;
    if (at < 0 && waited > this.st.maxSpinNs) this.st.maxSpinNs = waited;
    this.waitH.record(waited);
    next.trigger(); // the lock passes over: still held
  }

  /** Counts the figures of booked holds whose start or end has come. */
  private settle(): void {
    const due = this.due;
    const now = this.sim.now;
    if (due.length === 0 || now < this.nextDue) return;
    let next = Number.POSITIVE_INFINITY;
    const st = this.st;
    let k = 0;
    for (let i = 0; i < due.length; i += 3) {
      const at = due[i]!;
      const wait = due[i + 1]!;
      const len = due[i + 2]!;
      if (at > now) {
        if (at < next) next = at;
        due[k] = at;
        due[k + 1] = wait;
        due[k + 2] = len;
        k += 3;
      } else if (wait < 0) {
        st.holdNs += len;
        this.holdH.record(len);
      } else {
        st.acquisitions++;
        if (wait > 0) {
          st.contended++;
          st.waitNs += wait;
          if (wait > st.maxWaitNs) st.maxWaitNs = wait;
          if (wait > st.maxSpinNs) st.maxSpinNs = wait;
          this.waitH.record(wait);
        }
      }
    }
    due.length = k;
    this.nextDue = next;
  }
}
