/**
 * bitmap-next-fit: a guest's allocator over the DVMA ranges it holds, in the manner of the
 * Solaris/Linux sparc IOMMU arenas: one bit per page (1 = held and free), searched from a
 * next-fit hint that moves past each allocation, wrapping once to the start.
 *
 * The shared bitmap skips whole 32-bit words, so a single-page alloc or free near the hint
 * is O(1) amortised. The search is confined to the span of the held ranges, however big the
 * window.
 */

import { definePlugin, Type } from "../../core/index.ts";
import { HeldBitmapPolicy } from "./held-bitmap.ts";

const options = Type.Object(
  {
    perCpuHint: Type.Boolean({
      default: false,
      description:
        "keep one next-fit hint per virtual CPU (less sharing of IOTLB lines between CPUs)",
    }),
  },
  { additionalProperties: false },
);

export default definePlugin({
  name: "bitmap-next-fit",
  kind: "policy.local",
  version: "1.0.0",
  description: "Local DVMA policy: free-page bitmap searched next-fit from a hint, aligned",
  options,
  setup(_ctx, opts) {
    return ({ windowPages, cpus }) =>
      new BitmapNextFitPolicy(windowPages, opts.perCpuHint ? cpus : 1);
  },
});

export class BitmapNextFitPolicy extends HeldBitmapPolicy {
  /** Next-fit hint per hint slot (one, or one per CPU). */
  private readonly hints: number[];

  constructor(windowPages: number, hintSlots = 1) {
    super(windowPages);
    this.hints = new Array(Math.max(1, hintSlots)).fill(0);
  }

  alloc(npages: number, align: number, cpu: number, limit = this.windowPages): number {
    if (!this.room(npages)) return -1;
    const slot = this.hints.length === 1 ? 0 : cpu % this.hints.length;
    const hi = Math.min(this.hi, limit);
    const hint = Math.min(Math.max(this.hints[slot], this.lo), hi);
    let page = this.bits.findRun(hint, hi, hi, npages, align);
    if (page < 0 && hint > this.lo) page = this.bits.findRun(this.lo, hint, hi, npages, align);
    if (page >= 0) this.hints[slot] = page + npages;
    return this.take(page, npages);
  }
}
