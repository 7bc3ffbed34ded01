import type { Signal, Simulator } from "./kernel.ts";

/**
 * A counted resource (servers, queue slots) with a strict FIFO wait queue.
 * release() hands the unit straight to the oldest waiter, so a later request can never barge in.
 */
export class Resource {
  private readonly sim: Simulator;
  readonly capacity: number;
  private used = 0;
  // Waiters live in waitQ[head..]; the consumed prefix is dropped when it gets large.
  private waitQ: Signal<void>[] = [];
  private head = 0;
  // Returned for every grant made at once: a fired signal, so the kernel continues the process
  // without an event, and no signal is made per request.
  private readonly granted: Signal<void>;

  constructor(sim: Simulator, capacity: number) {
    if (!(Number.isSafeInteger(capacity) && capacity >= 1)) {
      throw new RangeError(`Resource capacity must be a positive integer, got ${capacity}`);
    }
    this.sim = sim;
    this.capacity = capacity;
    this.granted = sim.signal<void>();
    this.granted.trigger();
  }

  get inUse(): number {
    return this.used;
  }

  get queued(): number {
    return this.waitQ.length - this.head;
  }

  /** A signal that triggers when one unit is granted to the caller (already fired if one is free now: a process that yields it goes on without an event). */
  request(): Signal<void> {
    if (this.used < this.capacity) {
      this.used++;
      return this.granted;
    }
    const sig = this.sim.signal<void>();
    this.waitQ.push(sig);
    return sig;
  }

  /** Returns one unit: to the oldest waiter if any, else to the pool. */
  release(): void {
    if (this.used === 0) throw new Error("Resource.release() without a matching granted request");
    if (this.head < this.waitQ.length) {
      const next = this.waitQ[this.head];
      this.waitQ[this.head++] = undefined as unknown as Signal<void>;
      if (this.head > 1024 && this.head * 2 > this.waitQ.length) {
        this.waitQ = this.waitQ.slice(this.head);
        this.head = 0;
      }
      next.trigger(); // unit passes over: inUse unchanged
    } else {
      this.used--;
    }
  }
}
