// A guest's grants by number: a release takes back only the live grant it names, of exactly its
// range; the ranges read back sorted; a death clears them.
import { describe, expect, test } from "bun:test";
import { GrantTable } from "../../../../core/model/domains/grants.ts";

const DH = 0x200;

describe("GrantTable", () => {
  test("numbers count from 1 across root complexes; ranges read back sorted per root complex", () => {
    const t = new GrantTable();
    expect([t.add(DH, 8, 2), t.add(DH, 0, 4), t.add(DH + 1, 0, 1), t.add(DH, 4, 1)]).toEqual([
      1, 2, 3, 4,
    ]);
    expect(t.rangesOf(DH)).toEqual([
      { base: 0, npages: 4 },
      { base: 4, npages: 1 },
      { base: 8, npages: 2 },
    ]);
    expect(t.rangesOf(DH + 1)).toEqual([{ base: 0, npages: 1 }]);
    expect(t.rangesOf(DH + 2)).toEqual([]);
  });

  test("take: only the live grant named, of exactly its range, once; a number is never given again", () => {
    const t = new GrantTable();
    const n = t.add(DH, 4, 2);
    // Another number, start, size or root complex (one with no grants at all): nothing taken.
    for (const [g, dh, index, npages] of [
      [n + 1, DH, 4, 2],
      [0, DH, 4, 2],
      [n, DH, 5, 1],
      [n, DH, 4, 1],
      [n, DH, 4, 3],
      [n, DH + 1, 4, 2],
    ])
      expect(t.take(g!, dh!, index!, npages!)).toBe(false);
    expect(t.rangesOf(DH)).toEqual([{ base: 4, npages: 2 }]);
    expect(t.take(n, DH, 4, 2)).toBe(true);
    expect(t.rangesOf(DH)).toEqual([]);
    expect(t.take(n, DH, 4, 2)).toBe(false);
    // The same range granted again gets a new number: the old one takes nothing.
    const again = t.add(DH, 4, 2);
    expect(again).toBe(n + 1);
    expect(t.take(n, DH, 4, 2)).toBe(false);
    expect(t.take(again, DH, 4, 2)).toBe(true);
  });

  test("clear: every grant gone, and numbers go on counting", () => {
    const t = new GrantTable();
    t.add(DH, 0, 1);
    t.add(DH + 1, 3, 1);
    t.clear();
    expect([t.rangesOf(DH), t.rangesOf(DH + 1)]).toEqual([[], []]);
    expect(t.take(1, DH, 0, 1)).toBe(false);
    expect(t.add(DH, 0, 1)).toBe(3);
  });
});
