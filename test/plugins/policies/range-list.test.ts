import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Rng } from "../../../core/model/sim/rng.ts";
import { RangeList } from "../../../plugins/policies/range-list.ts";

const PAGES = 60_000;

/** The reference: ranges in a sorted array, and a count of gaps by size. */
class Model {
  readonly m: [lo: number, hi: number, tag: number][] = [];
  private readonly bySize = new Int32Array(PAGES + 1);
  private top = 0;

  gapBelow(k: number): number {
    return this.m[k][0] - (k === 0 ? 0 : this.m[k - 1][1]);
  }

  largest(): number {
    while (this.top > 0 && this.bySize[this.top] === 0) this.top--;
    return this.top;
  }

  fits(k: number, n: number, mask: number): boolean {
    const high = this.m[k][0];
    const low = high - this.gapBelow(k);
    return high - low >= n && ((high - n) & ~mask) >= low;
  }

  indexOf(lo: number): number {
    let a = 0;
    let b = this.m.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (this.m[mid][0] < lo) a = mid + 1;
      else b = mid;
    }
    return a;
  }

  /**
   * Runs `change` on range k (inserted before it, removed, or resized): the gaps of ranges
   * k - 1 .. k + 1 are uncounted before, those of ranges k - 1 .. k - 1 + `after` counted after.
   */
  edit(k: number, change: () => void, after: number): void {
    this.count(k - 1, k + 1, -1);
    change();
    this.count(k - 1, k - 1 + after, 1);
  }

  private count(from: number, to: number, sign: number): void {
    for (let k = Math.max(0, from); k <= to && k < this.m.length; k++) {
      const g = this.gapBelow(k);
      this.bySize[g] += sign;
      if (sign > 0 && g > this.top) this.top = g;
    }
  }
}

describe("range-list", () => {
  test("property: thousands of ranges (leaves split, merge, drop, and are skipped by group) behave as a sorted array", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => {
        const rng = new Rng(seed);
        const list = new RangeList();
        const model = new Model();
        const m = model.m;
        const cursorOn = (k: number) => {
          expect(list.seek(m[k][0])).toBe(true);
          expect([list.curLo, list.curHi, list.curTag]).toEqual(m[k]);
        };
        // Grow to thousands of ranges, churn, then drain nearly all of them.
        for (let step = 0; step < 30_000; step++) {
          const inserts = 0.6 * (step < 12_000 ? 0.9 : step < 16_000 ? 0.5 : 0.04);
          const r = rng.float();
          if (r < inserts || m.length === 0) {
            const len = rng.int(1, 5);
            const lo = rng.int(0, PAGES - len);
            const k = model.indexOf(lo);
            if ((k > 0 && m[k - 1][1] > lo) || (k < m.length && m[k][0] < lo + len)) continue;
            const tag = rng.int(0, 3);
            if (k < m.length && rng.chance(0.5)) {
              // Into the gap below range k, at its top, as an allocation does.
              const top = m[k][0];
              if (top - len < (k === 0 ? 0 : m[k - 1][1])) continue;
              cursorOn(k);
              list.insertBelow(top - len, top, tag);
              model.edit(k, () => m.splice(k, 0, [top - len, top, tag]), 3);
            } else {
              list.insert(lo, lo + len, tag);
              model.edit(k, () => m.splice(k, 0, [lo, lo + len, tag]), 3);
            }
            expect([list.curLo, list.curHi]).toEqual([m[k][0], m[k][1]]);
          } else if (r < 0.6) {
            const k = rng.int(0, m.length);
            cursorOn(k);
            const above = list.remove();
            model.edit(k, () => m.splice(k, 1), 1);
            expect(above).toBe(k < m.length);
            if (above) expect(list.curLo).toBe(m[k][0]);
          } else if (r < 0.65) {
            const k = rng.int(0, m.length);
            const [lo, hi] = m[k];
            if (hi - lo < 2) continue;
            cursorOn(k);
            const raise = rng.chance(0.5);
            if (raise) list.setLo(lo + 1);
            else list.setHi(hi - 1);
            model.edit(
              k,
              () => {
                if (raise) m[k][0] = lo + 1;
                else m[k][1] = hi - 1;
              },
              2,
            );
          } else {
            // A quarter from the top for about the largest gap: a search across every group.
            const far = rng.chance(0.25);
            const k = far ? m.length - 1 : rng.int(0, m.length);
            const n = far ? Math.max(1, model.largest() + rng.int(-1, 2)) : rng.int(1, 9);
            const mask = far ? 0 : 2 ** rng.int(0, 4) - 1;
            let want = k;
            while (want >= 0 && !model.fits(want, n, mask)) want--;
            cursorOn(k);
            expect(list.fitDown(n, mask)).toBe(want >= 0);
            expect(list.curLo).toBe(m[want >= 0 ? want : k][0]);
            expect(list.fitsHere(n, mask)).toBe(want >= 0);
          }
          expect(list.largestGap()).toBe(model.largest());
          if (step % 101 === 0) {
            let gaps = 0;
            for (let k = 0; k < m.length; k++) if (model.gapBelow(k) > 0) gaps++;
            expect(list.gaps()).toBe(gaps);
          }
        }
        // Walk everything in order, both ways.
        if (m.length > 0) {
          cursorOn(0);
          for (let k = 1; k < m.length; k++) {
            expect(list.next()).toBe(true);
            expect(list.curLo).toBe(m[k][0]);
            expect(list.curGap).toBe(model.gapBelow(k));
          }
          expect(list.next()).toBe(false);
          for (let k = m.length - 2; k >= 0; k--) expect(list.prev()).toBe(true);
          expect(list.prev()).toBe(false);
        }
      }),
      { numRuns: 5 },
    );
  });

  test("group maxima follow leaves that shift between groups as leaves empty and merge", () => {
    const list = new RangeList();
    for (let k = 0; k < 8000; k++) list.insert(2 * k, 2 * k + 1, 0); // 1-page gaps, ~250 leaves
    for (let k = 0; k < 10; k++) {
      list.seek(12_000 + 2 * k);
      list.remove();
    }
    expect(list.largestGap()).toBe(21); // [11_999, 12_020)
    for (let k = 0; k < 3000; k++) {
      list.seek(2 * k);
      list.remove();
    }
    list.seek(Number.MAX_SAFE_INTEGER);
    expect(list.fitDown(21, 0)).toBe(true);
    expect(list.curLo).toBe(12_020);
  });

  test("a leaf whose maximum is not known may still hold its group's maximum", () => {
    const list = new RangeList();
    for (let k = 0; k < 200; k++) list.insert(2 * k, 2 * k + 1, 0);
    expect(list.largestGap()).toBe(1);
    for (let k = 10; k < 15; k++) {
      list.seek(2 * k);
      list.remove();
    }
    list.insert(201, 202, 0); // another leaf: its maximum is now unknown, the group's is 11
    for (let k = 105; k < 113; k++) {
      list.seek(2 * k);
      list.remove();
    }
    expect(list.largestGap()).toBe(17); // [209, 226), in the leaf not recounted
    list.insert(215, 217, 0);
    expect(list.largestGap()).toBe(11);
  });

  test("seek before the first range fails; an empty list takes a first range", () => {
    const list = new RangeList();
    expect(list.seek(5)).toBe(false);
    list.insert(10, 12, 1);
    expect(list.seek(9)).toBe(false);
    expect(list.seek(11)).toBe(true);
    expect([list.curLo, list.curHi, list.curTag, list.curGap]).toEqual([10, 12, 1, 10]);
    expect(list.remove()).toBe(false);
  });
});
