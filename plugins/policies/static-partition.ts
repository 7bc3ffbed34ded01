/**
 * static-partition: the control domain cuts the window into equal slices when it is created,
 * one per guest in boot order, and grants a guest only from its own slice (lowest fit inside
 * it). Nothing is shared, so a guest can never starve another; the price is that a busy guest
 * is refused while other slices sit idle.
 *
 * The control domain (the one domain that asks but is not a guest) gets the slice after the
 * guests' only with `includeControl`. With `slices` larger than the owners, the extra slices
 * stay unused; with fewer, the last owners get none. Pages past the last whole slice are never
 * granted. Restores (a ledger rebuild) are taken wherever they fall.
 */

import {
  definePlugin,
  type GlobalPolicy,
  type PolicyStats,
  type Refusal,
  Type,
} from "../../core/index.ts";
import { PageBitmap } from "./page-bitmap.ts";

const options = Type.Object(
  {
    slices: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          "slices the window is cut into (default: one per guest, plus the control domain's)",
      }),
    ),
    includeControl: Type.Boolean({
      default: false,
      description: "give the control domain a slice too (after the guests')",
    }),
  },
  { additionalProperties: false },
);

export default definePlugin({
  name: "static-partition",
  kind: "policy.global",
  version: "1.0.0",
  description: "Global DVMA policy: equal fixed slices of the window, one per guest",
  options,
  setup(_ctx, opts) {
    return ({ windowPages, guests }) =>
      new StaticPartitionPolicy(windowPages, guests, opts.slices, opts.includeControl);
  },
});

const OUTSIDE: Refusal = Object.freeze({ refused: "outside-partition" });
const FULL: Refusal = Object.freeze({ refused: "partition-full" });

export class StaticPartitionPolicy implements GlobalPolicy {
  /** Bit set = page free. */
  private readonly bits: PageBitmap;
  readonly slices: number;
  readonly slicePages: number;
  private readonly sliceOf = new Map<number, number>();
  /** The control domain's slice, bound to the first non-guest that asks (-1: none). */
  private controlSlice: number;
  private allocated = 0;
  private allocations = 0;
  private failures = 0;

  constructor(
    private readonly windowPages: number,
    guests: readonly number[],
    slices?: number,
    includeControl = false,
  ) {
    const owners = guests.length + (includeControl ? 1 : 0);
    this.slices = slices ?? Math.max(1, owners);
    this.slicePages = Math.floor(windowPages / this.slices);
    guests.forEach((g, i) => {
      if (i < this.slices) this.sliceOf.set(g, i);
    });
    this.controlSlice = includeControl && guests.length < this.slices ? guests.length : -1;
    this.bits = new PageBitmap(windowPages);
    this.bits.set(0, windowPages);
  }

  grant(domain: number, npages: number, align: number): number | Refusal {
    let slice = this.sliceOf.get(domain);
    if (slice === undefined && this.controlSlice >= 0) {
      slice = this.controlSlice;
      this.sliceOf.set(domain, slice);
      this.controlSlice = -1;
    }
    if (slice === undefined || this.slicePages === 0) {
      this.failures++;
      return OUTSIDE;
    }
    const start = slice * this.slicePages;
    const end = start + this.slicePages;
    const page = this.bits.findRun(start, end, end, npages, align);
    if (page < 0) {
      this.failures++;
      return FULL;
    }
    this.take(page, npages);
    this.allocations++;
    return page;
  }

  revoke(_domain: number, base: number, npages: number): void {
    this.bits.set(base, npages);
    this.allocated -= npages;
  }

  reclaim(_domain: number): void {
    // Its ranges were revoked one by one; its slice stays its own (the partition is fixed).
  }

  restore(_domain: number, base: number, npages: number): void {
    if (this.bits.count(base, npages) !== npages) {
      throw new Error(`restore of [${base}, ${base + npages}): not free`);
    }
    this.take(base, npages);
  }

  stats(): PolicyStats {
    let free = 0;
    let largest = 0;
    const owned = new Set(this.sliceOf.values());
    if (this.controlSlice >= 0) owned.add(this.controlSlice);
    for (const i of owned) {
      const start = i * this.slicePages;
      free += this.bits.count(start, this.slicePages);
      largest = Math.max(largest, this.bits.longestRun(start, start + this.slicePages));
    }
    return {
      allocatedPages: this.allocated,
      freePages: free,
      allocations: this.allocations,
      failures: this.failures,
      slices: this.slices,
      slicePages: this.slicePages,
      unassignedPages: this.windowPages - owned.size * this.slicePages,
      largestFreeRun: largest,
      fragmentation: free === 0 ? 0 : 1 - largest / free,
    };
  }

  private take(base: number, npages: number): void {
    this.bits.clear(base, npages);
    this.allocated += npages;
  }
}
