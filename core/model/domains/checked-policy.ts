/**
 * Guards around allocation policies (checked-global.ts, checked-local.ts) and what they share: the core never acts on a value a policy returns without
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
import type { PolicyStats } from "./policy.ts";

export interface CheckOptions {
  /** Receives each violation instead of it being thrown; the call then returns a failure. */
  onError?: (error: PluginError) => void;
}

export const isPow2 = (n: number) =>
  Number.isInteger(n) && n >= 1 && n <= 2 ** 30 && (n & (n - 1)) === 0;
export const isCount = (n: number) => Number.isInteger(n) && n >= 1;
export const range = (base: number, n: number) => `[${base}, ${base + n})`;

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

export abstract class Checked {
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

  /** The policy (global or local) whose answers this wrapper checks. */
  abstract readonly inner: { stats?(): PolicyStats };

  /**
   * The policy's stats, or the ledger's own figures when it has no `stats()`, throws or
   * answers nonsense.
   */
  stats(): PolicyStats {
    const inner = this.inner;
    if (inner.stats === undefined) return this.fallbackStats();
    let s: unknown;
    try {
      s = inner.stats();
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

  /** True when [base, base + npages) is a non-empty range of whole pages inside the window. */
  protected inWindow(base: number, npages: number): boolean {
    return (
      Number.isInteger(base) && isCount(npages) && base >= 0 && base + npages <= this.windowPages
    );
  }

  protected checkRangeArgs(call: string, base: number, npages: number): void {
    if (!this.inWindow(base, npages)) {
      this.misuse(
        call,
        `range ${range(base, npages)} is not inside the window of ${this.windowPages} pages`,
      );
    }
  }
}
