import type { Proc, Simulator } from "../sim/kernel.ts";

/** A range of the window a guest holds from the broker, and how many live mappings are in it. */
export interface Lease {
  base: number;
  npages: number;
  live: number;
  /** The pending idle-return timer, or -1. */
  idleTimer: number;
}

/**
 * A guest's leases, sorted by base. A mapping is counted in every lease it overlaps (a policy may
 * merge adjacent leases); a lease with nothing mapped for `idleNs` is handed to `onIdle`.
 */
export class LeaseTable {
  readonly all: Lease[] = [];

  constructor(
    private readonly sim: Simulator,
    /** 0 = keep leases. */
    private readonly idleNs: number,
    private readonly onIdle: (l: Lease) => void,
  ) {}

  insert(base: number, npages: number): void {
    let i = 0;
    while (i < this.all.length && this.all[i]!.base < base) i++;
    this.all.splice(i, 0, { base, npages, live: 0, idleTimer: -1 });
  }

  drop(l: Lease): void {
    this.all.splice(this.all.indexOf(l), 1);
  }

  /** A mapping of [index, index + npages) went live. */
  use(index: number, npages: number): void {
    for (let i = this.firstEndingAfter(index); i < this.all.length; i++) {
      const l = this.all[i]!;
      if (l.base >= index + npages) break;
      l.live++;
      if (l.idleTimer >= 0) {
        this.sim.cancel(l.idleTimer);
        l.idleTimer = -1;
      }
    }
  }

  /** A mapping of [index, index + npages) went back to the policy. */
  unuse(index: number, npages: number): void {
    for (let i = this.firstEndingAfter(index); i < this.all.length; i++) {
      const l = this.all[i]!;
      if (l.base >= index + npages) break;
      if (--l.live > 0 || this.idleNs <= 0) continue;
      l.idleTimer = this.sim.schedule(this.idleNs, () => {
        l.idleTimer = -1;
        if (l.live === 0 && this.all.includes(l)) this.onIdle(l);
      });
    }
  }

  /** Position of the first lease that ends after `index`: no allocation on the hot path. */
  private firstEndingAfter(index: number): number {
    let lo = 0;
    let hi = this.all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const l = this.all[mid]!;
      if (l.base + l.npages <= index) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * Asks for a lease for a mapping of `need` pages: `want` pages (at least `need`) first, and after
 * each nack half as many, down to `need`, so a window too full for a whole lease still serves the
 * mapping. A timeout ends it (the broker is away; smaller asks would not help). Returns the
 * first entry of the lease, or why none came.
 */
export function* leaseWithFallback(
  want: number,
  need: number,
  ask: (npages: number) => Proc<number | string>,
): Proc<number | string> {
  let size = Math.max(want, need);
  let got = yield* ask(size);
  while (typeof got === "string" && got.startsWith("nack:") && size > need) {
    size = Math.max(need, size >> 1);
    got = yield* ask(size);
  }
  return got;
}
