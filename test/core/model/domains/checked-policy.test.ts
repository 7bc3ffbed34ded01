import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  type GlobalPolicy,
  type LocalPolicy,
  PluginError,
  type PolicyStats,
  type Refusal,
} from "../../../../core/index.ts";
import { formatValue } from "../../../../core/input/validate.ts";
import { checkGlobalPolicy } from "../../../../core/model/domains/checked-global.ts";
import { checkLocalPolicy } from "../../../../core/model/domains/checked-local.ts";

const W = 64;
const NAME = "broken";

type GlobalMode = "ok" | "overlap" | "outside" | "misaligned" | "throw" | "nan" | "badRefusal";
const GLOBAL_MODES: GlobalMode[] = [
  "ok",
  "ok",
  "ok",
  "overlap",
  "outside",
  "misaligned",
  "throw",
  "nan",
  "badRefusal",
];

const stats = (): PolicyStats => ({ allocatedPages: 0, freePages: 0, allocations: 0, failures: 0 });

/** An honest first-fit that misbehaves on demand (bad answers never change its own state). */
class BrokenGlobal implements GlobalPolicy {
  readonly own = new Int32Array(W).fill(-1);
  mode: GlobalMode = "ok";

  grant(domain: number, npages: number, align: number): number | Refusal {
    switch (this.mode) {
      case "ok": {
        const b = this.fit(npages, align, (p) => this.own[p] === -1);
        if (b < 0) return { refused: "full" };
        this.own.fill(domain, b, b + npages);
        return b;
      }
      case "overlap": {
        const b = this.fit(
          npages,
          align,
          () => true,
          (p) => this.own[p] !== -1,
        );
        return b < 0 ? W : b;
      }
      case "outside":
        return npages % 2 === 0 ? W - npages + 1 : -align;
      case "misaligned":
        return align > 1 ? 1 : 0.5;
      case "throw":
        throw new Error("policy exploded");
      case "nan":
        return Number.NaN;
      case "badRefusal":
        return { refused: 42 } as unknown as Refusal;
    }
  }

  /** First aligned base whose pages all satisfy `each` and one satisfies `some`. */
  fit(
    n: number,
    align: number,
    each: (p: number) => boolean,
    some: (p: number) => boolean = () => true,
  ): number {
    for (let b = 0; b + n <= W; b += align) {
      let all = true;
      let any = false;
      for (let p = b; p < b + n; p++) {
        all &&= each(p);
        any ||= some(p);
      }
      if (all && any) return b;
    }
    return -1;
  }

  revoke(_d: number, base: number, npages: number): void {
    this.own.fill(-1, base, base + npages);
  }
  reclaim(): void {}
  restore(domain: number, base: number, npages: number): void {
    this.own.fill(domain, base, base + npages);
  }
  stats = stats;
}

const globalCmd = fc.oneof(
  fc.record({
    op: fc.constant("grant" as const),
    domain: fc.integer({ min: 0, max: 3 }),
    npages: fc.integer({ min: 1, max: 9 }),
    align: fc.constantFrom(1, 2, 4, 8),
    mode: fc.constantFrom(...GLOBAL_MODES),
  }),
  fc.record({ op: fc.constant("revoke" as const), pick: fc.nat() }),
  fc.record({
    op: fc.constant("revokeAny" as const),
    domain: fc.integer({ min: 0, max: 3 }),
    base: fc.integer({ min: -2, max: W }),
    npages: fc.integer({ min: 0, max: 6 }),
  }),
  fc.record({
    op: fc.constant("restore" as const),
    domain: fc.integer({ min: 0, max: 3 }),
    base: fc.integer({ min: 0, max: W - 1 }),
    npages: fc.integer({ min: 1, max: 6 }),
  }),
  fc.record({ op: fc.constant("reclaim" as const), domain: fc.integer({ min: 0, max: 3 }) }),
);

type GlobalCmd = typeof globalCmd extends fc.Arbitrary<infer T> ? T : never;

function runGlobal(cmds: GlobalCmd[], report: boolean): void {
  const inner = new BrokenGlobal();
  const reported: PluginError[] = [];
  const checked = checkGlobalPolicy(
    NAME,
    inner,
    W,
    report ? { onError: (e) => reported.push(e) } : {},
  );
  const model = new Int32Array(W).fill(-1);
  const grants: { domain: number; base: number; npages: number }[] = [];
  const ownsAll = (d: number, b: number, n: number) =>
    Number.isInteger(b) &&
    n >= 1 &&
    b >= 0 &&
    b + n <= W &&
    model.subarray(b, b + n).every((o) => o === d);

  for (const c of cmds) {
    if (c.op === "grant") {
      inner.mode = c.mode;
      const honest = inner.fit(c.npages, c.align, (p) => model[p] === -1);
      let result: number | Refusal | undefined;
      let error: unknown;
      try {
        result = checked.grant(c.domain, c.npages, c.align);
      } catch (e) {
        error = e;
      }
      if (c.mode === "ok") {
        expect(error).toBeUndefined();
        if (honest < 0) expect(result).toEqual({ refused: "full" });
        else {
          expect(result).toBe(honest);
          model.fill(c.domain, honest, honest + c.npages);
          grants.push({ domain: c.domain, base: honest, npages: c.npages });
        }
      } else {
        const e = report ? reported.pop() : error;
        expect(e).toBeInstanceOf(PluginError);
        const pe = e as PluginError;
        expect(pe.plugin).toBe(NAME);
        expect(pe.hook).toBe("grant");
        expect(pe.message).toStartWith(`[plugin ${NAME}] grant: `);
        if (c.mode === "throw") expect((pe.cause as Error).message).toBe("policy exploded");
        else {
          expect("value" in pe).toBe(true);
          expect(pe.message).toContain(formatValue(c.mode === "badRefusal" ? 42 : pe.value));
        }
        if (report)
          expect(result).toEqual({ refused: expect.stringContaining("allocation policy error") });
        expect(reported.length).toBe(0);
      }
    } else if (c.op === "revoke") {
      if (grants.length === 0) continue;
      const [g] = grants.splice(c.pick % grants.length, 1);
      checked.revoke(g.domain, g.base, g.npages);
      model.fill(-1, g.base, g.base + g.npages);
    } else if (c.op === "revokeAny") {
      if (ownsAll(c.domain, c.base, c.npages)) {
        checked.revoke(c.domain, c.base, c.npages);
        model.fill(-1, c.base, c.base + c.npages);
        // the grants list may now hold partly revoked ranges: rebuild it from the model
        grants.length = 0;
        for (let p = 0; p < W; p++)
          if (model[p] !== -1) grants.push({ domain: model[p], base: p, npages: 1 });
      } else {
        expect(() => checked.revoke(c.domain, c.base, c.npages)).toThrow(RangeError);
      }
    } else if (c.op === "restore") {
      const free =
        c.base + c.npages <= W && model.subarray(c.base, c.base + c.npages).every((o) => o === -1);
      if (free) {
        checked.restore(c.domain, c.base, c.npages);
        model.fill(c.domain, c.base, c.base + c.npages);
        grants.push({ domain: c.domain, base: c.base, npages: c.npages });
      } else {
        expect(() => checked.restore(c.domain, c.base, c.npages)).toThrow(RangeError);
      }
    } else {
      const holds = model.some((o) => o === c.domain);
      if (holds) expect(() => checked.reclaim(c.domain)).toThrow(RangeError);
      else checked.reclaim(c.domain);
    }
    // the ledger equals the model after every step
    for (let p = 0; p < W; p++) expect(checked.ownerOf(p)).toBe(model[p]);
    expect(checked.livePages()).toBe(model.filter((o) => o !== -1).length);
    for (let d = 0; d < 4; d++)
      expect(checked.livePages(d)).toBe(model.filter((o) => o === d).length);
  }
}

describe("checkGlobalPolicy", () => {
  test("property: bad answers become PluginErrors naming plugin and value; the ledger tracks a model", () => {
    fc.assert(
      fc.property(fc.array(globalCmd, { maxLength: 60, size: "max" }), (cmds) =>
        runGlobal(cmds, false),
      ),
      { numRuns: 300 },
    );
  });

  test("property: with onError, violations are reported and become refusals", () => {
    fc.assert(
      fc.property(fc.array(globalCmd, { maxLength: 60, size: "max" }), (cmds) =>
        runGlobal(cmds, true),
      ),
      { numRuns: 150 },
    );
  });

  test("bad requests are refused before reaching the policy", () => {
    const inner = new BrokenGlobal();
    inner.mode = "throw";
    const checked = checkGlobalPolicy(NAME, inner, W);
    for (const [d, n, a] of [
      [-1, 1, 1],
      [0, 0, 1],
      [0, 1.5, 1],
      [0, 1, 3],
      [0, W + 1, 1],
    ]) {
      expect(checked.grant(d, n, a)).toEqual({ refused: expect.any(String) });
    }
  });

  test("stats are checked; a bad stats object falls back to the ledger", () => {
    const inner = new BrokenGlobal();
    const checked = checkGlobalPolicy(NAME, inner, W);
    expect(checked.stats()).toEqual(stats());
    inner.stats = () => ({ allocatedPages: "many" }) as unknown as PolicyStats;
    expect(() => checked.stats()).toThrow('allocatedPages is "many", not a finite number');
    const reported: PluginError[] = [];
    const quiet = checkGlobalPolicy(NAME, inner, W, { onError: (e) => reported.push(e) });
    expect(quiet.stats()).toEqual({ allocatedPages: 0, freePages: W, allocations: 0, failures: 0 });
    expect(reported[0].hook).toBe("stats");
  });

  test("a policy that throws on revoke is reported; the ledger still follows the core", () => {
    const inner = new BrokenGlobal();
    const checked = checkGlobalPolicy(NAME, inner, W);
    expect(checked.grant(2, 4, 1)).toBe(0);
    inner.revoke = () => {
      throw new Error("cannot revoke");
    };
    expect(() => checked.revoke(2, 0, 4)).toThrow("[plugin broken] revoke: cannot revoke");
    expect(checked.ownerOf(0)).toBe(-1);
    expect(checked.livePages(2)).toBe(0);
  });
});

type LocalMode = "ok" | "overlap" | "notHeld" | "outside" | "misaligned" | "throw" | "nan";
const LOCAL_MODES: LocalMode[] = [
  "ok",
  "ok",
  "ok",
  "overlap",
  "notHeld",
  "outside",
  "misaligned",
  "throw",
  "nan",
];
const NONE = 0;
const FREE = 1;
const USED = 2;
const NAMES = ["none", "free", "allocated"];

class BrokenLocal implements LocalPolicy {
  readonly own = new Uint8Array(W);
  mode: LocalMode = "ok";

  addRange(base: number, npages: number): void {
    this.own.fill(FREE, base, base + npages);
  }
  removeRange(base: number, npages: number): void {
    this.own.fill(NONE, base, base + npages);
  }
  alloc(npages: number, align: number): number {
    switch (this.mode) {
      case "ok": {
        const b = this.fit(npages, align, (s) => s === FREE);
        if (b >= 0) this.own.fill(USED, b, b + npages);
        return b;
      }
      case "overlap":
      case "notHeld": {
        const want = this.mode === "overlap" ? USED : NONE;
        const b = this.fit(
          npages,
          align,
          () => true,
          (s) => s === want,
        );
        return b < 0 ? W : b;
      }
      case "outside":
        return npages % 2 === 0 ? W : -2;
      case "misaligned":
        return align > 1 ? 1 : 2.5;
      case "throw":
        throw new TypeError("alloc exploded");
      case "nan":
        return Number.NaN;
    }
  }
  fit(
    n: number,
    align: number,
    each: (s: number) => boolean,
    some: (s: number) => boolean = () => true,
  ): number {
    for (let b = 0; b + n <= W; b += align) {
      let all = true;
      let any = false;
      for (let p = b; p < b + n; p++) {
        all &&= each(this.own[p]);
        any ||= some(this.own[p]);
      }
      if (all && any) return b;
    }
    return -1;
  }
  free(page: number, npages: number): void {
    this.own.fill(FREE, page, page + npages);
  }
  stats = stats;
}

const localCmd = fc.oneof(
  fc.record({
    op: fc.constant("add" as const),
    base: fc.integer({ min: 0, max: W - 1 }),
    npages: fc.integer({ min: 1, max: 16 }),
  }),
  fc.record({ op: fc.constant("remove" as const), pick: fc.nat() }),
  fc.record({
    op: fc.constant("alloc" as const),
    npages: fc.integer({ min: 1, max: 6 }),
    align: fc.constantFrom(1, 2, 4),
    mode: fc.constantFrom(...LOCAL_MODES),
  }),
  fc.record({ op: fc.constant("free" as const), pick: fc.nat() }),
  fc.record({
    op: fc.constant("freeAny" as const),
    base: fc.integer({ min: -1, max: W }),
    npages: fc.integer({ min: 1, max: 4 }),
  }),
);

describe("checkLocalPolicy", () => {
  test("property: bad answers become PluginErrors; the ledger tracks a model", () => {
    fc.assert(
      fc.property(fc.array(localCmd, { maxLength: 80, size: "max" }), (cmds) => {
        const inner = new BrokenLocal();
        const checked = checkLocalPolicy(NAME, inner, W);
        const model = new Uint8Array(W);
        const ranges: { base: number; npages: number }[] = [];
        const allocs: { base: number; npages: number }[] = [];
        const all = (b: number, n: number, s: number) =>
          b >= 0 && b + n <= W && model.subarray(b, b + n).every((x) => x === s);

        for (const c of cmds) {
          if (c.op === "add") {
            if (all(c.base, c.npages, NONE)) {
              checked.addRange(c.base, c.npages);
              model.fill(FREE, c.base, c.base + c.npages);
              ranges.push({ base: c.base, npages: c.npages });
            } else {
              expect(() => checked.addRange(c.base, c.npages)).toThrow(RangeError);
            }
          } else if (c.op === "remove") {
            if (ranges.length === 0) continue;
            const i = c.pick % ranges.length;
            const r = ranges[i];
            if (all(r.base, r.npages, FREE)) {
              checked.removeRange(r.base, r.npages);
              model.fill(NONE, r.base, r.base + r.npages);
              ranges.splice(i, 1);
            } else {
              expect(() => checked.removeRange(r.base, r.npages)).toThrow(RangeError);
            }
          } else if (c.op === "alloc") {
            inner.mode = c.mode;
            const honest = inner.fit(c.npages, c.align, (s) => s === FREE);
            let result: number | undefined;
            let error: unknown;
            try {
              result = checked.alloc(c.npages, c.align, 0);
            } catch (e) {
              error = e;
            }
            if (c.mode === "ok") {
              expect(error).toBeUndefined();
              expect(result).toBe(honest);
              if (honest >= 0) {
                model.fill(USED, honest, honest + c.npages);
                allocs.push({ base: honest, npages: c.npages });
              }
            } else {
              expect(error).toBeInstanceOf(PluginError);
              const pe = error as PluginError;
              expect([pe.plugin, pe.hook]).toEqual([NAME, "alloc"]);
              if (c.mode === "throw") expect(pe.cause).toBeInstanceOf(TypeError);
              else expect(pe.message).toContain(`returned ${formatValue(pe.value)}`);
            }
          } else if (c.op === "free") {
            if (allocs.length === 0) continue;
            const [a] = allocs.splice(c.pick % allocs.length, 1);
            checked.free(a.base, a.npages, 0);
            model.fill(FREE, a.base, a.base + a.npages);
          } else {
            if (all(c.base, c.npages, USED)) {
              checked.free(c.base, c.npages, 0);
              model.fill(FREE, c.base, c.base + c.npages);
              allocs.length = 0;
              for (let p = 0; p < W; p++)
                if (model[p] === USED) allocs.push({ base: p, npages: 1 });
            } else {
              expect(() => checked.free(c.base, c.npages, 0)).toThrow(RangeError);
            }
          }
          for (let p = 0; p < W; p++) expect(checked.stateOf(p)).toBe(NAMES[model[p]] as never);
          expect(checked.heldPages).toBe(model.filter((s) => s !== NONE).length);
          expect(checked.allocatedPages).toBe(model.filter((s) => s === USED).length);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("with onError a bad alloc is a failure (-1) and the bitmap is unchanged", () => {
    const inner = new BrokenLocal();
    const reported: PluginError[] = [];
    const checked = checkLocalPolicy(NAME, inner, W, { onError: (e) => reported.push(e) });
    checked.addRange(8, 8);
    expect(checked.alloc(2, 2, 0)).toBe(8);
    inner.mode = "overlap";
    expect(checked.alloc(2, 2, 0)).toBe(-1);
    expect(reported.map((e) => [e.plugin, e.hook, e.value])).toEqual([[NAME, "alloc", 8]]);
    expect(reported[0].message).toContain("page 8 is already allocated");
    expect([checked.stateOf(8), checked.stateOf(10), checked.allocatedPages]).toEqual([
      "allocated",
      "free",
      2,
    ]);
    expect(checked.stats()).toEqual(stats());
  });

  test("misuse by the caller is a RangeError and changes nothing", () => {
    const checked = checkLocalPolicy(NAME, new BrokenLocal(), W);
    expect(() => checked.alloc(0, 1, 0)).toThrow(RangeError);
    expect(() => checked.alloc(1, 3, 0)).toThrow(RangeError);
    expect(() => checked.addRange(60, 8)).toThrow("not inside the window");
    expect(() => checked.free(0, 1, 0)).toThrow("page 0 is not allocated (none)");
    expect(checked.heldPages).toBe(0);
  });

  test("the policy's acquire mode passes through; absent stays absent", () => {
    const perMap = Object.assign(new BrokenLocal(), { acquire: "per-map" as const });
    expect(checkLocalPolicy(NAME, perMap, W).acquire).toBe("per-map");
    const plain = checkLocalPolicy(NAME, new BrokenLocal(), W);
    expect(plain.acquire).toBeUndefined();
    expect("acquire" in plain).toBe(false);
  });
});
