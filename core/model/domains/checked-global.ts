import { PluginError } from "../../input/errors.ts";
import { formatValue } from "../../input/validate.ts";
import { Checked, type CheckOptions, isCount, isPow2, range } from "./checked-policy.ts";
import { type GlobalPolicy, isRefusal, type PolicyStats, type Refusal } from "./policy.ts";

/** Largest domain id the global ledger can record (it stores `domain + 1` in 16 bits). */
export const MAX_LEDGER_DOMAIN = 0xfffe;

/** A global policy behind checks, with its ledger exposed read-only. */
export interface CheckedGlobalPolicy extends GlobalPolicy {
  /** The policy's figures, or the ledger's when the policy has no stats(). */
  stats(): PolicyStats;
  readonly plugin: string;
  readonly windowPages: number;
  /** The unchecked policy. */
  readonly inner: GlobalPolicy;
  /** Domain that holds `page`, or -1 if it is free. */
  ownerOf(page: number): number;
  /** Pages live (granted) for `domain`, or in total when omitted. */
  livePages(domain?: number): number;
}

class CheckedGlobal extends Checked implements CheckedGlobalPolicy {
  /** Per page: 0 = free, otherwise the owning domain + 1. */
  private readonly owner: Uint16Array;
  private readonly perDomain = new Map<number, number>();
  private live = 0;
  private grants = 0;
  private refusals = 0;

  constructor(
    plugin: string,
    readonly inner: GlobalPolicy,
    windowPages: number,
    onError: ((e: PluginError) => void) | undefined,
  ) {
    super(plugin, windowPages, onError);
    this.owner = new Uint16Array(windowPages);
  }

  ownerOf(page: number): number {
    return (this.owner[page] ?? 0) - 1;
  }

  livePages(domain?: number): number {
    return domain === undefined ? this.live : (this.perDomain.get(domain) ?? 0);
  }

  grant(domain: number, npages: number, align: number): number | Refusal {
    if (!Number.isInteger(domain) || domain < 0 || domain > MAX_LEDGER_DOMAIN) {
      return this.refuse(`bad request: domain ${formatValue(domain)}`);
    }
    if (!isCount(npages))
      return this.refuse(`bad request: npages ${formatValue(npages)} is not a positive integer`);
    if (!isPow2(align))
      return this.refuse(`bad request: align ${formatValue(align)} is not a power of two`);
    if (npages > this.windowPages)
      return this.refuse(`${npages} pages do not fit in a window of ${this.windowPages}`);

    let result: number | Refusal;
    try {
      result = this.inner.grant(domain, npages, align);
    } catch (e) {
      return this.broken(PluginError.wrap(this.plugin, "grant", e));
    }
    if (isRefusal(result)) {
      if (typeof result.refused !== "string") {
        return this.broken(
          new PluginError(
            this.plugin,
            "grant",
            `refusal reason ${formatValue(result.refused)} is not a string`,
            {
              value: result,
            },
          ),
        );
      }
      this.refusals++;
      return result;
    }
    const why = this.problem(result, npages, align);
    if (why !== undefined) {
      return this.broken(
        new PluginError(
          this.plugin,
          "grant",
          `returned ${formatValue(result)} for grant(domain ${domain}, npages ${npages}, align ${align}): ${why}`,
          { value: result },
        ),
      );
    }
    this.mark(result, npages, domain + 1);
    this.grants++;
    return result;
  }

  revoke(domain: number, base: number, npages: number): void {
    const call = `revoke(domain ${domain}, ${range(base, npages)})`;
    this.checkRangeArgs(call, base, npages);
    for (let p = base; p < base + npages; p++) {
      if (this.owner[p] !== domain + 1) {
        this.misuse(
          call,
          `page ${p} is ${this.owner[p] === 0 ? "not granted" : `granted to domain ${this.owner[p] - 1}`}`,
        );
      }
    }
    // The core is revoking whatever the policy says: the ledger follows the core.
    this.mark(base, npages, 0, domain);
    this.tell("revoke", () => this.inner.revoke(domain, base, npages));
  }

  reclaim(domain: number): void {
    const left = this.perDomain.get(domain) ?? 0;
    if (left > 0)
      this.misuse(
        `reclaim(domain ${domain})`,
        `${left} pages are still granted; revoke them first`,
      );
    this.tell("reclaim", () => this.inner.reclaim(domain));
  }

  restore(domain: number, base: number, npages: number): void {
    const call = `restore(domain ${domain}, ${range(base, npages)})`;
    if (!Number.isInteger(domain) || domain < 0 || domain > MAX_LEDGER_DOMAIN)
      this.misuse(call, "bad domain");
    this.checkRangeArgs(call, base, npages);
    for (let p = base; p < base + npages; p++) {
      if (this.owner[p] !== 0)
        this.misuse(call, `page ${p} is already granted to domain ${this.owner[p] - 1}`);
    }
    this.mark(base, npages, domain + 1);
    this.tell("restore", () => this.inner.restore(domain, base, npages));
  }

  protected fallbackStats(): PolicyStats {
    return {
      allocatedPages: this.live,
      freePages: this.windowPages - this.live,
      allocations: this.grants,
      failures: this.refusals,
    };
  }

  private refuse(reason: string): Refusal {
    this.refusals++;
    return { refused: reason };
  }

  private broken(error: PluginError): Refusal {
    this.refusals++;
    this.report(error);
    return { refused: `allocation policy error: ${error.message}` };
  }

  private problem(base: unknown, npages: number, align: number): string | undefined {
    if (typeof base !== "number" || !Number.isInteger(base)) return "not an integer page number";
    if (base < 0 || base + npages > this.windowPages) {
      return `range ${range(base, npages)} is outside the window [0, ${this.windowPages})`;
    }
    if (base % align !== 0) return `not aligned to ${align} pages`;
    for (let p = base; p < base + npages; p++) {
      if (this.owner[p] !== 0) return `page ${p} is already granted to domain ${this.owner[p] - 1}`;
    }
    return undefined;
  }

  private mark(base: number, npages: number, value: number, from?: number): void {
    this.owner.fill(value, base, base + npages);
    const domain = value === 0 ? from! : value - 1;
    const delta = value === 0 ? -npages : npages;
    this.live += delta;
    const left = (this.perDomain.get(domain) ?? 0) + delta;
    if (left === 0) this.perDomain.delete(domain);
    else this.perDomain.set(domain, left);
  }
}

/** Wraps a global policy so every grant is checked against a ledger of the window. */
export function checkGlobalPolicy(
  pluginName: string,
  policy: GlobalPolicy,
  windowPages: number,
  options: CheckOptions = {},
): CheckedGlobalPolicy {
  return new CheckedGlobal(pluginName, policy, windowPages, options.onError);
}
