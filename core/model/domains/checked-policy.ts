/**
 * Guards around allocation policies: the core never acts on a value a policy returns without
 * checking it first, so a broken plugin cannot corrupt core state.
 *
 * Each wrapper keeps its own ledger of the window (a typed array, one slot per page) and
 * checks every answer: an integer, aligned as asked, inside the window (global) or inside the
 * ranges currently held (local), and not overlapping anything live. A bad answer or a throw
 * becomes a `PluginError` naming the plugin, the hook and the offending value; the ledger is
 * left as it was (a bad `alloc`/`grant` counts as a failure). By default the error is thrown;
 * with `onError` it is reported there instead and the call returns a failure (-1 or a refusal).
 *
 * Calls from the core are checked too (`free`/`revoke` only of what is live, `addRange` of
 * pages not held, ...); a wrong call is a core bug and throws a `RangeError`, leaving the
 * ledger and the policy untouched.
 */

import { PluginError } from "../../input/errors.ts";
import { formatValue } from "../../input/validate.ts";
import {
  type GlobalPolicy,
  isRefusal,
  type LocalPolicy,
  type PolicyStats,
  type Refusal,
} from "./policy.ts";

export interface CheckOptions {
  /** Receives each violation instead of it being thrown; the call then returns a failure. */
  onError?: (error: PluginError) => void;
}

/** Largest domain id the global ledger can record (it stores `domain + 1` in 16 bits). */
export const MAX_LEDGER_DOMAIN = 0xfffe;

const isPow2 = (n: number) => Number.isInteger(n) && n >= 1 && n <= 2 ** 30 && (n & (n - 1)) === 0;
const isCount = (n: number) => Number.isInteger(n) && n >= 1;
const range = (base: number, n: number) => `[${base}, ${base + n})`;

const STAT_FIELDS = ["allocatedPages", "freePages", "allocations", "failures"] as const;

function statsProblem(s: unknown): string | undefined {
  if (typeof s !== "object" || s === null) return `returned ${formatValue(s)}, not a stats object`;
  for (const k of STAT_FIELDS) {
    const v = (s as Record<string, unknown>)[k];
    if (typeof v !== "number" || !Number.isFinite(v))
      return `${k} is ${formatValue(v)}, not a finite number`;
  }
  return undefined;
}

abstract class Checked {
  constructor(
    readonly plugin: string,
    readonly windowPages: number,
    private readonly onError: ((e: PluginError) => void) | undefined,
  ) {
    if (!isCount(windowPages))
      throw new RangeError(`windowPages must be a positive integer, got ${windowPages}`);
  }

  /** Reports (or throws) a violation. Returns normally only when `onError` took it. */
  protected report(error: PluginError): void {
    if (this.onError === undefined) throw error;
    this.onError(error);
  }

  /** Tells the policy something (free, revoke, ...): what it throws is reported, the ledger stands. */
  protected tell(hook: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.report(PluginError.wrap(this.plugin, hook, e));
    }
  }

  /** The policy's stats, or the ledger's own figures when it throws or answers nonsense. */
  protected checkedStats(read: () => unknown): PolicyStats {
    let s: unknown;
    try {
      s = read();
    } catch (e) {
      this.report(PluginError.wrap(this.plugin, "stats", e));
      return this.fallbackStats();
    }
    const why = statsProblem(s);
    if (why === undefined) return s as PolicyStats;
    this.report(new PluginError(this.plugin, "stats", why, { value: s }));
    return this.fallbackStats();
  }

  protected abstract fallbackStats(): PolicyStats;

  protected misuse(call: string, why: string): never {
    throw new RangeError(`checked policy "${this.plugin}": ${call}: ${why}`);
  }

  protected checkRangeArgs(call: string, base: number, npages: number): void {
    if (
      !Number.isInteger(base) ||
      !isCount(npages) ||
      base < 0 ||
      base + npages > this.windowPages
    ) {
      this.misuse(
        call,
        `range ${range(base, npages)} is not inside the window of ${this.windowPages} pages`,
      );
    }
  }
}

/** A global policy behind checks, with its ledger exposed read-only. */
export interface CheckedGlobalPolicy extends GlobalPolicy {
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

  stats(): PolicyStats {
    return this.checkedStats(() => this.inner.stats());
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

export type LocalPageState = "none" | "free" | "allocated";
const NONE = 0;
const FREE = 1;
const ALLOCATED = 2;
const STATE_NAMES: readonly LocalPageState[] = ["none", "free", "allocated"];

/** A local policy behind checks, with its ledger exposed read-only. */
export interface CheckedLocalPolicy extends LocalPolicy {
  readonly plugin: string;
  readonly windowPages: number;
  readonly inner: LocalPolicy;
  /** "none" = not held, "free" = held and free, "allocated". */
  stateOf(page: number): LocalPageState;
  /** Pages held (inside added ranges). */
  readonly heldPages: number;
  /** Pages allocated. */
  readonly allocatedPages: number;
}

class CheckedLocal extends Checked implements CheckedLocalPolicy {
  declare readonly acquire?: "per-map" | "lease";
  private readonly state: Uint8Array;
  private held = 0;
  private allocated = 0;
  private allocations = 0;
  private failures = 0;

  constructor(
    plugin: string,
    readonly inner: LocalPolicy,
    windowPages: number,
    onError: ((e: PluginError) => void) | undefined,
  ) {
    super(plugin, windowPages, onError);
    this.state = new Uint8Array(windowPages);
    // The guest reads how to acquire DVMA off the policy it was handed: pass it through.
    if (inner.acquire !== undefined) this.acquire = inner.acquire;
  }

  stateOf(page: number): LocalPageState {
    return STATE_NAMES[this.state[page] ?? 0];
  }

  get heldPages(): number {
    return this.held;
  }

  get allocatedPages(): number {
    return this.allocated;
  }

  addRange(base: number, npages: number): void {
    const call = `addRange(${range(base, npages)})`;
    this.checkRangeArgs(call, base, npages);
    this.expect(call, base, npages, NONE, "already held");
    this.state.fill(FREE, base, base + npages);
    this.held += npages;
    this.tell("addRange", () => this.inner.addRange(base, npages));
  }

  removeRange(base: number, npages: number): void {
    const call = `removeRange(${range(base, npages)})`;
    this.checkRangeArgs(call, base, npages);
    this.expect(call, base, npages, FREE, "not held, or still allocated");
    this.state.fill(NONE, base, base + npages);
    this.held -= npages;
    this.tell("removeRange", () => this.inner.removeRange(base, npages));
  }

  alloc(npages: number, align: number, cpu: number, limit?: number): number {
    if (!isCount(npages))
      this.misuse(`alloc(${npages}, ${align})`, "npages must be a positive integer");
    if (!isPow2(align)) this.misuse(`alloc(${npages}, ${align})`, "align must be a power of two");
    if (limit !== undefined && !(isCount(limit) && limit <= this.windowPages))
      this.misuse(
        `alloc(${npages}, ${align}, limit ${limit})`,
        "limit must be a page in (0, window]",
      );
    let page: number;
    try {
      page =
        limit === undefined
          ? this.inner.alloc(npages, align, cpu)
          : this.inner.alloc(npages, align, cpu, limit);
    } catch (e) {
      return this.broken(PluginError.wrap(this.plugin, "alloc", e));
    }
    if (page === -1) {
      this.failures++;
      return -1;
    }
    const why =
      limit !== undefined && typeof page === "number" && page + npages > limit
        ? `range ${range(page, npages)} reaches past the limit ${limit}`
        : this.problem(page, npages, align);
    if (why !== undefined) {
      return this.broken(
        new PluginError(
          this.plugin,
          "alloc",
          `returned ${formatValue(page)} for alloc(npages ${npages}, align ${align}, cpu ${cpu}${limit === undefined ? "" : `, limit ${limit}`}): ${why}`,
          { value: page },
        ),
      );
    }
    this.state.fill(ALLOCATED, page, page + npages);
    this.allocated += npages;
    this.allocations++;
    return page;
  }

  free(page: number, npages: number, cpu: number): void {
    const call = `free(${range(page, npages)})`;
    this.checkRangeArgs(call, page, npages);
    this.expect(call, page, npages, ALLOCATED, "not allocated");
    this.state.fill(FREE, page, page + npages);
    this.allocated -= npages;
    this.tell("free", () => this.inner.free(page, npages, cpu));
  }

  stats(): PolicyStats {
    return this.checkedStats(() => this.inner.stats());
  }

  protected fallbackStats(): PolicyStats {
    return {
      allocatedPages: this.allocated,
      freePages: this.held - this.allocated,
      allocations: this.allocations,
      failures: this.failures,
    };
  }

  private broken(error: PluginError): number {
    this.failures++;
    this.report(error);
    return -1;
  }

  private expect(
    call: string,
    base: number,
    npages: number,
    want: number,
    otherwise: string,
  ): void {
    for (let p = base; p < base + npages; p++) {
      if (this.state[p] !== want)
        this.misuse(call, `page ${p} is ${otherwise} (${STATE_NAMES[this.state[p]]})`);
    }
  }

  private problem(page: unknown, npages: number, align: number): string | undefined {
    if (typeof page !== "number" || !Number.isInteger(page))
      return "not an integer page number (or -1)";
    if (page < 0 || page + npages > this.windowPages) {
      return `range ${range(page, npages)} is outside the window [0, ${this.windowPages})`;
    }
    if (page % align !== 0) return `not aligned to ${align} pages`;
    for (let p = page; p < page + npages; p++) {
      if (this.state[p] === NONE) return `page ${p} is not in a range the guest holds`;
      if (this.state[p] === ALLOCATED) return `page ${p} is already allocated`;
    }
    return undefined;
  }
}

/** Wraps a local policy so every allocation is checked against a ledger of the window. */
export function checkLocalPolicy(
  pluginName: string,
  policy: LocalPolicy,
  windowPages: number,
  options: CheckOptions = {},
): CheckedLocalPolicy {
  return new CheckedLocal(pluginName, policy, windowPages, options.onError);
}
