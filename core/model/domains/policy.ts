/**
 * Allocation-policy contracts. Policies work on integer page indices inside one DVMA window
 * (index 0 is the window's first 8 KiB IO page). They hold no core state: the host validates
 * every value they return before the core acts on it.
 */

import type { PolicyMeter } from "./policy-meter.ts";

export interface PolicyStats {
  /** Pages currently handed out. */
  allocatedPages: number;
  /** Pages this policy could still hand out (held but not allocated). */
  freePages: number;
  /** Successful allocations (or grants) since creation. */
  allocations: number;
  /** Refused allocations (or grants) since creation. */
  failures: number;
  /** Policy-specific figures (fragmentation, cache hits, ...). */
  [figure: string]: number;
}

/** A guest's allocator over the DVMA ranges it currently holds. */
export interface LocalPolicy {
  /** Pages [base, base + npages) become available (a grant arrived). */
  addRange(base: number, npages: number): void;
  /** The range goes back to the control domain; the host guarantees nothing inside is allocated. */
  removeRange(base: number, npages: number): void;
  /**
   * First page of `npages` free pages whose index is a multiple of `align` (a power of two), or -1.
   * With `limit`, the pages must lie below page `limit`: the device's DMA mask reaches no
   * further (a 32-bit device inside a window that extends past 4 GiB). Absent: the whole window.
   */
  alloc(npages: number, align: number, cpu: number, limit?: number): number;
  free(page: number, npages: number, cpu: number): void;
  /**
   * Optional: the policy's own figures (fragmentation, cache hits, ...). Without it the checked
   * wrapper's ledger answers: pages handed out and free, allocations and failures.
   */
  stats?(): PolicyStats;
  /**
   * How the guest should acquire DVMA for this policy; per-map = one negotiation per mapping,
   * the grant is the mapping. Absent: the guest's own setting applies.
   */
  readonly acquire?: "per-map" | "lease";
}

/** Why a global policy refused a grant; the guest sees `reason` in its nack. */
export interface Refusal {
  refused: string;
}

/** The control domain's allocator over the whole global window. */
export interface GlobalPolicy {
  /** First page of a range granted to `domain`, or a refusal. */
  grant(domain: number, npages: number, align: number): number | Refusal;
  /** A granted range comes back (released by its guest or revoked). */
  revoke(domain: number, base: number, npages: number): void;
  /** `domain` is gone; every one of its ranges has already been revoked one by one. */
  reclaim(domain: number): void;
  /** Ledger rebuild after a broker restart: mark a range as granted to `domain`. */
  restore(domain: number, base: number, npages: number): void;
  /**
   * Optional: the policy's own figures (fragmentation, cache hits, ...). Without it the checked
   * wrapper's ledger answers: pages handed out and free, allocations and failures.
   */
  stats?(): PolicyStats;
}

export interface GlobalPolicyContext {
  /** Pages in the window (262,144 for the default 2 GiB window). */
  windowPages: number;
  /** Where the policy declares its locks and reports its work (see policy-meter.ts). */
  meter: PolicyMeter;
  /** Ids of the guest domains that may ask for grants, in boot order. */
  guests: readonly number[];
}

export interface LocalPolicyContext {
  windowPages: number;
  /** Where the policy declares its locks and reports its work (see policy-meter.ts). */
  meter: PolicyMeter;
  /** Virtual CPUs of the guest (per-CPU caches index by `cpu` in [0, cpus)). */
  cpus: number;
}

export type GlobalPolicyFactory = (ctx: GlobalPolicyContext) => GlobalPolicy;
export type LocalPolicyFactory = (ctx: LocalPolicyContext) => LocalPolicy;

export function isRefusal(v: number | Refusal): v is Refusal {
  return typeof v === "object" && v !== null && "refused" in v;
}
