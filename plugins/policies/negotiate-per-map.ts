/**
 * negotiate-per-map: the method read literally. Every mapping asks the control domain for
 * DVMA and the grant is the mapping, so the policy says `acquire: "per-map"` and the guest
 * negotiates once per map instead of leasing chunks.
 *
 * What it holds is then exactly the grants of its live mappings, and its own allocator is
 * trivial: a free run of exactly the size asked for (the grant made for this mapping), else
 * the lowest run that fits, over a bitmap of the held pages.
 */

import { definePlugin, type PolicyStats } from "../../core/index.ts";
import { HeldBitmapPolicy } from "./held-bitmap.ts";

export default definePlugin({
  name: "negotiate-per-map",
  kind: "policy.local",
  version: "1.0.0",
  description:
    "Local DVMA policy: one negotiation per mapping (the grant is the mapping), exact fit",
  setup() {
    return ({ windowPages }) => new NegotiatePerMapPolicy(windowPages);
  },
});

export class NegotiatePerMapPolicy extends HeldBitmapPolicy {
  readonly acquire = "per-map" as const;
  private exactFits = 0;

  alloc(npages: number, align: number, _cpu: number, limit = this.windowPages): number {
    if (!this.room(npages)) return -1;
    let lowest = -1;
    const hi = Math.min(this.hi, limit);
    for (let p = this.bits.nextSet(this.lo, hi); p >= 0; ) {
      const end = this.bits.nextClear(p, hi);
      if (end - p === npages && p % align === 0) {
        this.exactFits++;
        return this.take(p, npages);
      }
      if (lowest < 0) lowest = this.bits.findRun(p, end, end, npages, align);
      p = this.bits.nextSet(end, hi);
    }
    return this.take(lowest, npages);
  }

  override stats(): PolicyStats {
    return { ...super.stats(), exactFits: this.exactFits };
  }
}
