import type { Proc, Signal, Simulator } from "../sim/kernel.ts";
import { Resource } from "../sim/resource.ts";

/**
 * A domain's virtual CPUs. Work that competes for strands (the broker, a service-domain backend)
 * goes through `exec`, which queues FIFO when every strand is busy; work done inline by a process
 * that already runs on a strand is only `charge`d. Utilisation = busy time / (strands x elapsed).
 */
export class DomainCpu {
  readonly strands: number;
  private readonly pool: Resource;
  busyNs = 0;

  constructor(
    private readonly sim: Simulator,
    strands: number,
  ) {
    this.strands = strands;
    this.pool = new Resource(sim, strands);
  }

  charge(ns: number): void {
    this.busyNs += ns;
  }

  /** Runs `fn` after a strand has spent `ns` on it (after waiting for a free strand). */
  exec(ns: number, fn: () => void): void {
    this.pool.request().onTrigger(() => {
      this.sim.schedule(ns, () => {
        this.busyNs += ns;
        this.pool.release();
        fn();
      });
    });
  }

  /** From a process: waits for a strand, holds it for `ns`, releases it. */
  *work(ns: number): Proc<void> {
    yield this.pool.request();
    yield ns;
    this.busyNs += ns;
    this.pool.release();
  }

  /** A strand for a thread that does several steps (each charging its own time); release() after. */
  acquire(): Signal<void> {
    return this.pool.request();
  }

  release(): void {
    this.pool.release();
  }

  /** Jobs waiting for a strand. */
  get backlog(): number {
    return this.pool.queued;
  }

  utilisation(elapsedNs: number): number {
    return elapsedNs > 0 ? this.busyNs / (this.strands * elapsedNs) : 0;
  }
}
