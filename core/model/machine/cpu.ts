import type { Proc, Signal, Simulator } from "../sim/kernel.ts";
import type { Lock } from "../sim/lock.ts";
import { ready } from "../sim/ready.ts";

/** Pass as the vCPU to take any free strand (control-domain service threads), round robin. */
export const ANY_VCPU = -1;

/**
 * A domain's virtual CPUs, each a resource one piece of work holds at a time. Work on a given
 * vCPU (a lane's, a queue's) waits for that vCPU; work on ANY_VCPU takes the next free strand
 * after the one ANY work took last, so service threads spread over the strands as a scheduler
 * spreads them, rather than piling onto the lowest-numbered one.
 * A process holds a vCPU for exactly as long as its work takes and frees it while it waits for
 * anything else (a device, a message, a sleeping lock), so busy time is time held and
 * utilisation cannot exceed 100%. A free vCPU goes to its own waiters first, then to ANY waiters.
 * An uncontended take is tryTake(): no signal, no event.
 */
export class DomainCpu {
  readonly strands: number;
  /** Start of the current hold per vCPU, or -1 when free. */
  private readonly since: Float64Array;
  private readonly busy: Float64Array;
  private readonly pinned: Signal<number>[][];
  private readonly any: Signal<number>[] = [];
  private waiting = 0;
  /** Where the next ANY_VCPU take starts looking. */
  private nextAny = 0;

  constructor(
    private readonly sim: Simulator,
    strands: number,
  ) {
    if (!(Number.isSafeInteger(strands) && strands >= 1))
      throw new RangeError(`a domain needs at least one strand, got ${strands}`);
    this.strands = strands;
    this.since = new Float64Array(strands).fill(-1);
    this.busy = new Float64Array(strands);
    this.pinned = Array.from({ length: strands }, () => []);
  }

  /**
   * Takes vCPU `cpu` (or any, for ANY_VCPU) if it is free now: returns the vCPU, else -1. CPU
   * numbers wrap onto the domain's strands.
   */
  tryTake(cpu: number): number {
    const since = this.since;
    if (cpu < 0) {
      for (
        let k = 0, v = this.nextAny;
        k < this.strands;
        k++, v = v + 1 === this.strands ? 0 : v + 1
      ) {
        if (since[v]! < 0) {
          since[v] = this.sim.now;
          this.nextAny = v + 1 === this.strands ? 0 : v + 1;
          return v;
        }
      }
      return -1;
    }
    const v = cpu % this.strands;
    if (since[v]! >= 0) return -1;
    since[v] = this.sim.now;
    return v;
  }

  /** Queues for vCPU `cpu` (after tryTake failed); triggers with the vCPU handed over. */
  wait(cpu: number): Signal<number> {
    const sig = this.sim.signal<number>();
    if (cpu < 0) this.any.push(sig);
    else this.pinned[cpu % this.strands]!.push(sig);
    this.waiting++;
    return sig;
  }

  /** From a process: waits for vCPU `cpu` (or any) and returns the vCPU it holds. */
  take(cpu: number): Proc<number> {
    const v = this.tryTake(cpu);
    return v >= 0 ? ready(v) : this.waitFor(cpu);
  }

  private *waitFor(cpu: number): Proc<number> {
    return yield this.wait(cpu);
  }

  /** Frees vCPU `v`: to its own oldest waiter, else the oldest ANY waiter, else idle. */
  free(v: number): void {
    const since = this.since[v]!;
    if (since < 0) throw new Error(`vCPU ${v} freed while not held`);
    const q = this.pinned[v]!;
    const next = q.length > 0 ? q.shift() : this.any.shift();
    if (next !== undefined) {
      this.waiting--;
      next.trigger(v); // the vCPU passes over: still busy
      return;
    }
    this.busy[v]! += this.sim.now - since;
    this.since[v] = -1;
  }

  /** From a process: takes vCPU `cpu`, holds it for `ns`, frees it. */
  *run(cpu: number, ns: number): Proc<void> {
    let v = this.tryTake(cpu);
    if (v < 0) v = yield this.wait(cpu);
    if (ns > 0) yield ns;
    this.free(v);
  }

  /**
   * From a process holding vCPU `v`: takes `lock`. A spinner keeps the vCPU busy while it waits;
   * a sleeper (only when `maySleep`: not while it holds a spinlock) frees it and takes a vCPU
   * again once it has the lock. Returns the vCPU held afterwards (ANY holders may get another).
   */
  lock(lock: Lock, v: number, cpu: number, maySleep: boolean): Proc<number> {
    return lock.tryAcquire() ? ready(v) : this.lockWait(lock, v, cpu, maySleep);
  }

  private *lockWait(lock: Lock, v: number, cpu: number, maySleep: boolean): Proc<number> {
    const spins = lock.kind === "spin" || !maySleep;
    const sig = lock.wait(spins);
    if (spins) {
      yield sig;
      return v;
    }
    this.free(v);
    yield sig;
    return yield* this.take(cpu);
  }

  /** Work waiting for a vCPU. */
  get backlog(): number {
    return this.waiting;
  }

  /** Busy time of vCPU `v` so far, ns, counting a hold still running. */
  vcpuBusyNs(v: number): number {
    const since = this.since[v]!;
    return this.busy[v]! + (since >= 0 ? this.sim.now - since : 0);
  }

  /** Busy time of all vCPUs so far, ns. */
  get busyNs(): number {
    let n = 0;
    for (let v = 0; v < this.strands; v++) n += this.vcpuBusyNs(v);
    return n;
  }

  /** Mean utilisation over the domain's strands since time 0. */
  utilisation(elapsedNs: number): number {
    return elapsedNs > 0 ? this.busyNs / (this.strands * elapsedNs) : 0;
  }

  /** Utilisation of each vCPU since time 0. */
  vcpuUtilisation(elapsedNs: number): number[] {
    const out: number[] = [];
    for (let v = 0; v < this.strands; v++)
      out.push(elapsedNs > 0 ? this.vcpuBusyNs(v) / elapsedNs : 0);
    return out;
  }
}
