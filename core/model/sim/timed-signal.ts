import { badDelay } from "./describe.ts";
import { type Process, Signal, type Simulator } from "./kernel.ts";

/**
 * A Signal that can also be set to fire at a known later time with no event of its own: each
 * process waiting on it resumes then (one event each, as if it had yielded the delay), and one
 * that yields it before then waits until then. A message whose arrival time is known when it is
 * sent wakes its receiver this way, with no delivery event in between.
 */
export class TimedSignal<T = void> extends Signal<T> {
  private due = -1;

  /** When fireAt() set it to fire, or -1. */
  get dueAt(): number {
    return this.due;
  }

  override get triggered(): boolean {
    return this._triggered || (this.due >= 0 && this.sim.now >= this.due);
  }

  /** Fires the signal at `timeNs` (>= now) with `value`; waiters resume then, in FIFO order. */
  fireAt(timeNs: number, value: T): void {
    if (this.triggered || this.due >= 0) throw new Error("Signal already triggered");
    if (!(Number.isSafeInteger(timeNs) && timeNs >= this.sim.now))
      throw badDelay("fire time", timeNs);
    this.due = timeNs;
    this._value = value;
    const ws = this.waiters;
    this.waiters = null;
    if (ws !== null) for (const w of ws) this.later(w);
  }

  override trigger(value: T): void {
    if (this.due >= 0) throw new Error("Signal already triggered");
    super.trigger(value);
  }

  override onTrigger(fn: (value: T) => void): void {
    if (this.due >= 0) this.later(fn);
    else super.onTrigger(fn);
  }

  /** @internal */
  override _wait(p: Process<unknown>, sim: Simulator): number {
    if (this.due < 0 || sim !== this.sim) return super._wait(p, sim);
    if (sim.now >= this.due) return 1;
    sim._resume(p, this._value, this.due);
    return 0;
  }

  private later(w: Process<unknown> | ((value: never) => void)): void {
    const value = this._value as T;
    if (typeof w === "function") {
      this.sim.at(Math.max(this.due, this.sim.now), () => (w as (value: T) => void)(value));
    } else this.sim._resume(w, value, this.due);
  }
}
