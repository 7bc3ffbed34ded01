/**
 * Shared by the policy property tests: random command arbitraries and a runner that applies
 * each command to a policy and to a page-by-page reference model, checking after every step
 * that answers are in range, aligned and never overlapping, and that accounting is exact.
 * Each test adds its policy's own expectations through the `expect*` callbacks.
 */

import { expect } from "bun:test";
import fc from "fast-check";
import { Hooks } from "../../../core/harness/plugin/hooks.ts";
import { PluginHost, type PluginHostOptions } from "../../../core/harness/plugin/host.ts";
import type { CoreHooks } from "../../../core/index.ts";
import {
  type GlobalPolicy,
  isRefusal,
  type LocalPolicy,
  type PolicyStats,
  type Refusal,
} from "../../../core/index.ts";
import { EventBus } from "../../../core/model/events/index.ts";
import { fnv1a32, Rng } from "../../../core/model/sim/rng.ts";

export const NONE = 0;
export const FREE = 1;
export const USED = 2;
export const CPUS = 3;
export const GUESTS = [1, 2, 3, 4] as const;

export interface Span {
  base: number;
  npages: number;
}

const size = (max: number) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant(1) },
    { weight: 2, arbitrary: fc.integer({ min: 2, max: 9 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max }) },
  );
const align = fc.constantFrom(1, 1, 1, 2, 4, 8, 32);

export const localCmd = (windowPages: number, maxPages = 48) =>
  fc.oneof(
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("add" as const),
        base: fc.integer({ min: 0, max: windowPages - 1 }),
        npages: fc.integer({ min: 1, max: windowPages >> 1 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("remove" as const),
        pick: fc.nat(),
        piece: fc.boolean(),
      }),
    },
    {
      weight: 5,
      arbitrary: fc.record({
        op: fc.constant("alloc" as const),
        npages: size(maxPages),
        align,
        cpu: fc.integer({ min: 0, max: CPUS - 1 }),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant("free" as const),
        pick: fc.nat(),
        cpu: fc.integer({ min: 0, max: CPUS - 1 }),
      }),
    },
  );
export type LocalCmd = ReturnType<typeof localCmd> extends fc.Arbitrary<infer C> ? C : never;

export class LocalModel {
  readonly state: Uint8Array;
  ranges: Span[] = [];
  readonly allocs: Span[] = [];

  constructor(readonly windowPages: number) {
    this.state = new Uint8Array(windowPages);
  }

  count(s: number): number {
    return this.state.filter((x) => x === s).length;
  }

  all(base: number, npages: number, s: number): boolean {
    return (
      base >= 0 &&
      base + npages <= this.windowPages &&
      this.state.subarray(base, base + npages).every((x) => x === s)
    );
  }
}

export interface LocalExpectations {
  /** Called with the model as it was before the alloc. */
  alloc?(model: LocalModel, c: Extract<LocalCmd, { op: "alloc" }>, got: number): void;
  /** Called after every step. */
  stats?(model: LocalModel, stats: PolicyStats): void;
  /** Called before a range is removed (pages already freed in the model). */
  remove?(model: LocalModel, span: Span): void;
  /** Called after a free. */
  free?(model: LocalModel, span: Span): void;
}

/** Applies `cmds` to `policy` and the model; checks placement, overlap and accounting. */
export function runLocal(
  policy: LocalPolicy,
  windowPages: number,
  cmds: readonly LocalCmd[],
  expectations: LocalExpectations = {},
): LocalModel {
  const m = new LocalModel(windowPages);
  const freeAlloc = (i: number, cpu: number) => {
    const [a] = m.allocs.splice(i, 1);
    policy.free(a.base, a.npages, cpu);
    m.state.fill(FREE, a.base, a.base + a.npages);
    expectations.free?.(m, a);
  };
  for (const c of cmds) {
    if (c.op === "add") {
      const n = Math.min(c.npages, windowPages - c.base);
      if (!m.all(c.base, n, NONE)) continue;
      policy.addRange(c.base, n);
      m.state.fill(FREE, c.base, c.base + n);
      m.ranges.push({ base: c.base, npages: n });
    } else if (c.op === "remove") {
      if (m.ranges.length === 0) continue;
      const r = m.ranges[c.pick % m.ranges.length];
      let span: Span = r;
      if (c.piece) {
        // The longest free stretch inside the range, less a page at each end when it can.
        let best: Span = { base: r.base, npages: 0 };
        for (let p = r.base; p < r.base + r.npages; ) {
          let e = p;
          while (e < r.base + r.npages && m.state[e] === FREE) e++;
          if (e - p > best.npages) best = { base: p, npages: e - p };
          p = e + 1;
        }
        if (best.npages === 0) continue;
        span = best.npages > 2 ? { base: best.base + 1, npages: best.npages - 2 } : best;
      } else {
        for (let i = m.allocs.length - 1; i >= 0; i--) {
          const a = m.allocs[i];
          if (a.base < r.base + r.npages && a.base + a.npages > r.base) freeAlloc(i, 0);
        }
      }
      expectations.remove?.(m, span);
      policy.removeRange(span.base, span.npages);
      m.state.fill(NONE, span.base, span.base + span.npages);
      m.ranges = m.ranges.flatMap((x) => {
        if (x !== r) return [x];
        const out: Span[] = [];
        if (span.base > x.base) out.push({ base: x.base, npages: span.base - x.base });
        const end = span.base + span.npages;
        if (end < x.base + x.npages) out.push({ base: end, npages: x.base + x.npages - end });
        return out;
      });
    } else if (c.op === "alloc") {
      const got = policy.alloc(c.npages, c.align, c.cpu);
      if (got !== -1) {
        expect(Number.isInteger(got)).toBe(true);
        expect(got % c.align).toBe(0);
        expect(m.all(got, c.npages, FREE)).toBe(true);
      }
      expectations.alloc?.(m, c, got);
      if (got !== -1) {
        m.state.fill(USED, got, got + c.npages);
        m.allocs.push({ base: got, npages: c.npages });
      }
    } else {
      if (m.allocs.length === 0) continue;
      freeAlloc(c.pick % m.allocs.length, c.cpu);
    }
    const stats = policy.stats!();
    for (const v of Object.values(stats)) expect(Number.isFinite(v)).toBe(true);
    expect(stats.allocatedPages).toBe(m.count(USED));
    expect(stats.freePages).toBe(m.count(FREE));
    expectations.stats?.(m, stats);
  }
  return m;
}

/** Lowest start ≥ from, aligned, of `n` pages all FREE, ending at or before `end`; or -1. */
export function lowestFit(
  state: Uint8Array,
  n: number,
  align: number,
  from = 0,
  end = state.length,
): number {
  for (let b = Math.ceil(from / align) * align; b + n <= end; b += align) {
    let ok = true;
    for (let p = b; p < b + n && ok; p++) ok = state[p] === FREE;
    if (ok) return b;
  }
  return -1;
}

export const globalCmd = (windowPages: number, maxPages = 48) =>
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        op: fc.constant("grant" as const),
        domain: fc.integer({ min: 0, max: GUESTS.length }),
        npages: size(maxPages),
        align,
      }),
    },
    { weight: 3, arbitrary: fc.record({ op: fc.constant("revoke" as const), pick: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("restore" as const),
        domain: fc.integer({ min: 0, max: GUESTS.length }),
        base: fc.integer({ min: 0, max: windowPages - 1 }),
        npages: fc.integer({ min: 1, max: 24 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("die" as const),
        domain: fc.integer({ min: 1, max: GUESTS.length }),
      }),
    },
  );
export type GlobalCmd = ReturnType<typeof globalCmd> extends fc.Arbitrary<infer C> ? C : never;

export interface Grant extends Span {
  domain: number;
}

export class GlobalModel {
  /** Owner per page, -1 = free. */
  readonly owner: Int32Array;
  grants: Grant[] = [];

  constructor(readonly windowPages: number) {
    this.owner = new Int32Array(windowPages).fill(-1);
  }

  holds(domain: number): number {
    return this.owner.filter((o) => o === domain).length;
  }

  free(): number {
    return this.owner.filter((o) => o === -1).length;
  }
}

export interface GlobalExpectations {
  /** Called with the model as it was before the grant. */
  grant?(model: GlobalModel, c: Extract<GlobalCmd, { op: "grant" }>, got: number | Refusal): void;
  stats?(model: GlobalModel, stats: PolicyStats): void;
  /** Called before a grant (or a piece of a restored run) is revoked from the model. */
  revoke?(model: GlobalModel, g: Grant): void;
  /** Called before a restored run is added to the model. */
  restore?(model: GlobalModel, g: Grant): void;
}

/** Applies `cmds` to `policy` and the model; checks placement, overlap and accounting. */
export function runGlobal(
  policy: GlobalPolicy,
  windowPages: number,
  cmds: readonly GlobalCmd[],
  expectations: GlobalExpectations = {},
): GlobalModel {
  const m = new GlobalModel(windowPages);
  const revoke = (g: Grant) => {
    expectations.revoke?.(m, g);
    policy.revoke(g.domain, g.base, g.npages);
    m.owner.fill(-1, g.base, g.base + g.npages);
  };
  for (const c of cmds) {
    if (c.op === "grant") {
      const got = policy.grant(c.domain, c.npages, c.align);
      if (isRefusal(got)) expect(typeof got.refused).toBe("string");
      else {
        expect(Number.isInteger(got)).toBe(true);
        expect(got % c.align).toBe(0);
        expect(got >= 0 && got + c.npages <= windowPages).toBe(true);
        expect(m.owner.subarray(got, got + c.npages).every((o) => o === -1)).toBe(true);
      }
      expectations.grant?.(m, c, got);
      if (!isRefusal(got)) {
        m.owner.fill(c.domain, got, got + c.npages);
        m.grants.push({ domain: c.domain, base: got, npages: c.npages });
      }
    } else if (c.op === "revoke") {
      if (m.grants.length === 0) continue;
      const [g] = m.grants.splice(c.pick % m.grants.length, 1);
      revoke(g);
    } else if (c.op === "restore") {
      const n = Math.min(c.npages, windowPages - c.base);
      if (!m.owner.subarray(c.base, c.base + n).every((o) => o === -1)) continue;
      expectations.restore?.(m, { domain: c.domain, base: c.base, npages: n });
      policy.restore(c.domain, c.base, n);
      m.owner.fill(c.domain, c.base, c.base + n);
      // Revoked later in pieces, as after a ledger rebuild.
      for (let p = c.base; p < c.base + n; p += 8)
        m.grants.push({ domain: c.domain, base: p, npages: Math.min(8, c.base + n - p) });
    } else {
      for (const g of m.grants.filter((x) => x.domain === c.domain)) revoke(g);
      m.grants = m.grants.filter((x) => x.domain !== c.domain);
      policy.reclaim(c.domain);
    }
    const stats = policy.stats!();
    for (const v of Object.values(stats)) expect(Number.isFinite(v)).toBe(true);
    expect(stats.allocatedPages).toBe(windowPages - m.free());
    expectations.stats?.(m, stats);
  }
  return m;
}

/** A plugin host for one policy's tests: nothing listens to its events; streams seeded by name. */
export function policyHost(
  options: Pick<PluginHostOptions, "checkPolicies" | "onPolicyError"> = {},
) {
  return new PluginHost({
    hooks: new Hooks<CoreHooks>(),
    bus: new EventBus(() => 0),
    rng: (s) => new Rng(fnv1a32(s)),
    ...options,
  });
}
