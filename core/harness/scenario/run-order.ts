/**
 * The order a parallel sweep takes its runs in. Plan order at first; once a worker has probed
 * the runs not yet started (booted each and counted its kernel events over a short prefix), the
 * rest go longest first, so the longest run does not start last and finish alone while the other
 * runners idle. Only the order changes: results are merged in plan order (parallel.ts), so the
 * report is the same bytes.
 */

/** A probe advances each run this share of its simulated time (assumed: 0.5%). */
export const PROBE_SHARE = 1 / 200;
/**
 * The probing worker stops after this much CPU time (assumed: a twentieth of the work that is
 * worth starting a worker at all, WORKER_WORTH_MS); runs it did not reach are taken as average.
 */
export const PROBE_BUDGET_NS = 1e9;

export class RunOrder {
  private readonly order: number[];
  private next = 0;

  constructor(total: number) {
    this.order = Array.from({ length: total }, (_, i) => i);
  }

  /** Runs not started yet. */
  get left(): number {
    return this.order.length - this.next;
  }

  /** The next run to start, or -1 when every run has started. */
  take(): number {
    return this.next < this.order.length ? this.order[this.next++]! : -1;
  }

  /** The runs not started yet, the last in plan order first (a plan's tail matters most). */
  notStarted(): number[] {
    return this.order.slice(this.next).reverse();
  }

  /**
   * Puts the runs not started yet in order of estimated cost, highest first: a probed run's
   * kernel events scaled to its whole simulated time (`events[i]` over `runs[i]`'s first
   * `share` of it); a run not probed counts as the probed mean. Ties keep plan order.
   */
  reorder(runs: readonly number[], events: readonly number[], share: number): void {
    const cost = new Map<number, number>();
    for (const [i, r] of runs.entries()) cost.set(r, events[i]! / share);
    if (cost.size === 0) return;
    let sum = 0;
    for (const c of cost.values()) sum += c;
    const mean = sum / cost.size;
    const of = (r: number) => cost.get(r) ?? mean;
    const rest = this.order.slice(this.next).sort((a, b) => of(b) - of(a) || a - b);
    this.order.splice(this.next, rest.length, ...rest);
  }
}
