/**
 * quota: first fit over the whole window (the first-fit policy underneath), with a limit on the
 * pages one domain may hold at once: `maxPagesPerGuest`, and with `fairShare` (the default) at
 * most windowPages / number of guests. A grant that would pass the limit is refused with
 * "quota-exceeded", so one greedy guest cannot take the window from the others, while a guest
 * alone on the machine may still use its share anywhere in the window.
 *
 * The limit applies to every domain that asks, the control domain included. A ledger rebuild
 * (`restore`) is taken even past the limit: the hypervisor's table is the truth.
 */

import {
  definePlugin,
  type GlobalPolicy,
  isRefusal,
  type PolicyStats,
  type Refusal,
  Type,
} from "../../core/index.ts";
import { FirstFitPolicy } from "./first-fit.ts";

const options = Type.Object(
  {
    maxPagesPerGuest: Type.Optional(
      Type.Integer({ minimum: 1, description: "pages one domain may hold at once" }),
    ),
    fairShare: Type.Boolean({
      default: true,
      description: "also limit each domain to windowPages / number of guests",
    }),
  },
  { additionalProperties: false },
);

export default definePlugin({
  name: "quota",
  kind: "policy.global",
  version: "1.0.0",
  description: "Global DVMA policy: first fit with per-guest page limits and a fair share",
  options,
  setup(_ctx, opts) {
    return ({ windowPages, guests }) => {
      let limit = opts.maxPagesPerGuest ?? windowPages;
      if (opts.fairShare && guests.length > 0)
        limit = Math.min(limit, Math.floor(windowPages / guests.length));
      return new QuotaPolicy(windowPages, limit);
    };
  },
});

const EXCEEDED: Refusal = Object.freeze({ refused: "quota-exceeded" });

export class QuotaPolicy implements GlobalPolicy {
  private readonly space: FirstFitPolicy;
  private readonly held = new Map<number, number>();
  private allocations = 0;
  private failures = 0;
  private quotaRefusals = 0;

  constructor(
    windowPages: number,
    /** Pages one domain may hold at once. */
    readonly limit: number,
  ) {
    this.space = new FirstFitPolicy(windowPages);
  }

  grant(domain: number, npages: number, align: number): number | Refusal {
    const holds = this.held.get(domain) ?? 0;
    if (holds + npages > this.limit) {
      this.failures++;
      this.quotaRefusals++;
      return EXCEEDED;
    }
    const got = this.space.grant(domain, npages, align);
    if (isRefusal(got)) {
      this.failures++;
      return got;
    }
    this.held.set(domain, holds + npages);
    this.allocations++;
    return got;
  }

  revoke(domain: number, base: number, npages: number): void {
    this.space.revoke(domain, base, npages);
    const left = (this.held.get(domain) ?? 0) - npages;
    if (left > 0) this.held.set(domain, left);
    else this.held.delete(domain);
  }

  reclaim(domain: number): void {
    this.space.reclaim(domain);
    this.held.delete(domain);
  }

  restore(domain: number, base: number, npages: number): void {
    this.space.restore(domain, base, npages);
    this.held.set(domain, (this.held.get(domain) ?? 0) + npages);
  }

  stats(): PolicyStats {
    let atQuota = 0;
    for (const h of this.held.values()) if (h >= this.limit) atQuota++;
    return {
      ...this.space.stats(),
      allocations: this.allocations,
      failures: this.failures,
      quotaPages: this.limit,
      quotaRefusals: this.quotaRefusals,
      domainsAtQuota: atQuota,
    };
  }
}
