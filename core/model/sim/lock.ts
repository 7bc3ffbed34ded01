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
 */
export class Lock {
  private held = false;
  private since = 0;
  // Waiters live in waitQ[head..] with the time each arrived (negative: -1 - time for a waiter
  // that keeps its CPU spinning); the consumed prefix is dropped when large.
  private waitQ: Signal<void>[] = [];
  private arrived: number[] = [];
  private head = 0;
  readonly stats = {
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
  /** Every completed hold, ns (a hold still running is not counted yet). */
  readonly holds = new Histogram();
  /** Every wait of an acquisition that had to wait, ns (an uncontended one is not a wait). */
  readonly waits = new Histogram();

  constructor(
    private readonly sim: Simulator,
    readonly name: string,
    readonly kind: LockKind = "spin",
  ) {}

  get locked(): boolean {
    return this.held;
  }

  get queued(): number {
    return this.waitQ.length - this.head;
  }

  /** Takes the lock now if it is free (nobody holds it, nobody waits). */
  tryAcquire(): boolean {
    if (this.held) return false;
    this.held = true;
    this.since = this.sim.now;
    this.stats.acquisitions++;
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
    return sig;
  }

  /** Releases the lock: to the oldest waiter if any (its wait ends now), else free. */
  release(): void {
    if (!this.held) throw new Error(`Lock "${this.name}" released while not held`);
    const now = this.sim.now;
    this.stats.holdNs += now - this.since;
    this.holds.record(now - this.since);
    if (this.head === this.waitQ.length) {
      this.held = false;
      return;
    }
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
    this.since = now;
    this.stats.acquisitions++;
    this.stats.contended++;
    this.stats.waitNs += waited;
    if (waited > this.stats.maxWaitNs) this.stats.maxWaitNs = waited;
    if (at < 0 && waited > this.stats.maxSpinNs) this.stats.maxSpinNs = waited;
    this.waits.record(waited);
    next.trigger(); // the lock passes over: still held
  }
}
