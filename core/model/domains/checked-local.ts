import { PluginError } from "../../input/errors.ts";
import { formatValue } from "../../input/validate.ts";
import { Checked, type CheckOptions, isCount, isPow2, range } from "./checked-policy.ts";
import { PageStates } from "./page-states.ts";
import type { LocalPolicy, PolicyStats } from "./policy.ts";

export type LocalPageState = "none" | "free" | "allocated";
const NONE = 0;
const FREE = 1;
const ALLOCATED = 2;
const STATE_NAMES: readonly LocalPageState[] = ["none", "free", "allocated"];

/** A local policy behind checks, with its ledger exposed read-only. */
export interface CheckedLocalPolicy extends LocalPolicy {
  /** The policy's figures, or the ledger's when the policy has no stats(). */
  stats(): PolicyStats;
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
  /** The ledger: a state per page, stored only for blocks the guest holds pages in. */
  private readonly state: PageStates;
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
    this.state = new PageStates(windowPages);
    // The guest reads how to acquire DVMA off the policy it was handed: pass it through.
    if (inner.acquire !== undefined) this.acquire = inner.acquire;
  }

  stateOf(page: number): LocalPageState {
    return STATE_NAMES[this.state.get(page)] ?? "none";
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
    // Checked on every unmap: the message is built only for a misuse.
    if (!this.inWindow(page, npages) || this.state.firstNot(ALLOCATED, page, page + npages) >= 0) {
      const call = `free(${range(page, npages)})`;
      this.checkRangeArgs(call, page, npages);
      this.expect(call, page, npages, ALLOCATED, "not allocated");
    }
    this.state.fill(FREE, page, page + npages);
    this.allocated -= npages;
    try {
      this.inner.free(page, npages, cpu);
    } catch (e) {
      this.report(PluginError.wrap(this.plugin, "free", e));
    }
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
    const p = this.state.firstNot(want, base, base + npages);
    if (p >= 0) this.misuse(call, `page ${p} is ${otherwise} (${STATE_NAMES[this.state.get(p)]})`);
  }

  private problem(page: unknown, npages: number, align: number): string | undefined {
    if (typeof page !== "number" || !Number.isInteger(page))
      return "not an integer page number (or -1)";
    if (page < 0 || page + npages > this.windowPages) {
      return `range ${range(page, npages)} is outside the window [0, ${this.windowPages})`;
    }
    if (page % align !== 0) return `not aligned to ${align} pages`;
    const p = this.state.firstNot(FREE, page, page + npages);
    if (p >= 0 && this.state.get(p) === NONE) return `page ${p} is not in a range the guest holds`;
    if (p >= 0) return `page ${p} is already allocated`;
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
