/**
 * The IOTSB, the IOTLB and the owner-table run lengths on their own: every result, counter and
 * state change (fast, so a mutation run can use them per mutant).
 */
import { describe, expect, test } from "bun:test";
import { Iotlb } from "../../../../core/model/iommu/iotlb.ts";
import {
  IO_ATTR_MASK,
  IO_ATTR_READ,
  IO_ATTR_RELAXED_ORDER,
  IO_ATTR_WRITE,
  Iotsb,
  TTE_VALID,
} from "../../../../core/model/iommu/iotsb.ts";
import { runLengths } from "../../../../core/model/iommu/owner-runs.ts";

describe("IOTSB", () => {
  test("attribute bits are sun4v's; valid is a bit no caller may pass", () => {
    expect([IO_ATTR_READ, IO_ATTR_WRITE, IO_ATTR_RELAXED_ORDER, IO_ATTR_MASK]).toEqual([
      1, 2, 4, 7,
    ]);
    expect(TTE_VALID).toBe(0x80);
  });

  test("starts empty; set makes an entry valid once, keeps only the attribute bits", () => {
    const t = new Iotsb(4);
    expect(t.entries).toBe(4);
    expect([t.pa.length, t.attr.length]).toEqual([4, 4]);
    expect(t.valid).toBe(0);
    expect([0, 1, 2, 3].map((i) => t.isValid(i))).toEqual([false, false, false, false]);
    t.set(2, 17, 0xff);
    expect(t.isValid(2)).toBe(true);
    expect(t.isValid(1)).toBe(false);
    expect(t.pa[2]).toBe(17);
    expect(t.attr[2]).toBe(IO_ATTR_MASK | TTE_VALID);
    expect(t.valid).toBe(1);
    t.set(2, 18, IO_ATTR_READ); // over a valid entry: still one valid entry
    expect(t.valid).toBe(1);
    expect([t.pa[2], t.attr[2]]).toEqual([18, IO_ATTR_READ | TTE_VALID]);
    t.set(0, 5, IO_ATTR_WRITE);
    expect(t.valid).toBe(2);
  });

  test("clear: true and zeroed when it was valid, false and unchanged when not", () => {
    const t = new Iotsb(4);
    t.set(1, 9, IO_ATTR_READ);
    t.set(3, 7, IO_ATTR_WRITE);
    expect(t.clear(0)).toBe(false);
    expect(t.valid).toBe(2);
    expect(t.clear(1)).toBe(true);
    expect([t.pa[1], t.attr[1], t.valid]).toEqual([0, 0, 1]);
    expect(t.isValid(1)).toBe(false);
    expect(t.clear(1)).toBe(false);
    expect(t.valid).toBe(1);
    expect(t.isValid(3)).toBe(true);
  });

  test("an attribute byte without the valid bit is not valid", () => {
    const t = new Iotsb(2);
    t.attr[0] = IO_ATTR_MASK;
    expect(t.isValid(0)).toBe(false);
    expect(t.clear(0)).toBe(false);
    t.set(0, 1, IO_ATTR_READ);
    expect(t.valid).toBe(1); // was not valid before: counted
  });
});

describe("IOTLB", () => {
  test("sets must be a power of two, at least 1", () => {
    for (const s of [0, 3, 6, -4])
      expect(() => new Iotlb(s, 2)).toThrow(`IOTLB sets must be a power of two, got ${s}`);
    expect(new Iotlb(1, 2).sets).toBe(1);
    const t = new Iotlb(8, 3);
    expect([t.sets, t.ways]).toEqual([8, 3]);
  });

  test("the set index XOR-folds every log2(sets) bits of the page index", () => {
    const t = new Iotlb(4, 1);
    expect(t.setOf(0)).toBe(0);
    expect(t.setOf(3)).toBe(3);
    expect(t.setOf(4)).toBe(1); // 00 ^ 01
    expect(t.setOf(5)).toBe(0); // 01 ^ 01
    expect(t.setOf(7)).toBe(2); // 11 ^ 01
    expect(t.setOf(0b10_11_01)).toBe(0b10 ^ 0b11 ^ 0b01);
    expect(t.setOf(2 ** 31)).toBe(2); // the top bit folds in too (unsigned shift)
    const big = new Iotlb(16, 1);
    expect(big.setOf(0x123)).toBe(0x1 ^ 0x2 ^ 0x3);
    expect(new Iotlb(1, 4).setOf(0x7fff)).toBe(0);
  });

  test("lookup: -1 and a miss when absent; the slot, pa, attributes and a hit when present", () => {
    const t = new Iotlb(2, 2);
    expect(t.lookup(6)).toBe(-1);
    expect([t.hits, t.misses]).toEqual([0, 1]);
    t.insert(6, 40, IO_ATTR_READ);
    const slot = t.lookup(6);
    expect(slot).toBe(t.setOf(6) * 2);
    expect(t.paAt(slot)).toBe(40);
    expect(t.attrAt(slot)).toBe(IO_ATTR_READ | TTE_VALID);
    expect([t.hits, t.misses]).toEqual([1, 1]);
    t.insert(5, 41, IO_ATTR_WRITE); // same set (0), second way
    expect(t.lookup(5)).toBe(slot + 1);
    expect(t.paAt(slot + 1)).toBe(41);
    expect([t.hits, t.misses]).toEqual([2, 1]);
  });

  test("insert fills a free way first, then evicts the least recently used", () => {
    const t = new Iotlb(1, 3);
    t.insert(10, 1, 1);
    t.insert(11, 2, 1);
    t.insert(12, 3, 1);
    expect(t.cachedIndices()).toEqual([10, 11, 12]);
    t.lookup(10); // 11 is now the least recently used
    t.insert(13, 4, 1);
    expect(t.cachedIndices()).toEqual([10, 13, 12]);
    t.lookup(12);
    t.lookup(10);
    t.insert(14, 5, 1); // 13 least recent
    expect(t.cachedIndices()).toEqual([10, 14, 12]);
    t.insert(15, 6, 1); // 12 least recent now
    expect(t.cachedIndices()).toEqual([10, 14, 15]);
    expect(t.paAt(t.peek(15))).toBe(6);
  });

  test("a full set evicts within itself, even when the next set has room", () => {
    const t = new Iotlb(2, 2);
    for (const i of [0, 3, 5]) expect(t.setOf(i)).toBe(0);
    t.insert(0, 1, 1);
    t.insert(3, 2, 1);
    t.insert(5, 3, 1); // evicts 0, the least recently used
    expect(t.cachedIndices()).toEqual([5, 3]);
    expect(t.lookup(5)).toBe(0);
  });

  test("a freed way is reused before any live entry is evicted", () => {
    const t = new Iotlb(1, 3);
    t.insert(1, 1, 1);
    t.insert(2, 2, 1);
    t.insert(3, 3, 1);
    t.invalidate(2);
    t.insert(4, 4, 1);
    expect(t.cachedIndices()).toEqual([1, 4, 3]);
  });

  test("invalidate drops one index and counts only what it dropped; flushAll drops all", () => {
    const t = new Iotlb(2, 2);
    t.insert(0, 1, 1);
    t.insert(1, 2, 1);
    t.insert(2, 3, 1);
    t.invalidate(5);
    expect(t.invalidations).toBe(0);
    t.invalidate(2);
    expect(t.invalidations).toBe(1);
    expect(t.holds(2)).toBe(false);
    expect(t.cachedIndices()).toEqual([0, 1]);
    t.flushAll();
    expect(t.cachedIndices()).toEqual([]);
    expect(t.invalidations).toBe(2);
    expect(t.holds(0)).toBe(false);
  });

  test("peek and holds touch neither statistics nor LRU order", () => {
    const t = new Iotlb(1, 2);
    t.insert(1, 1, 1);
    t.insert(2, 2, 1);
    expect(t.peek(1)).toBe(0);
    expect(t.peek(2)).toBe(1);
    expect(t.peek(3)).toBe(-1);
    expect(t.holds(1)).toBe(true);
    expect(t.holds(3)).toBe(false);
    expect([t.hits, t.misses]).toEqual([0, 0]);
    t.insert(3, 3, 1); // 1 is still the least recently used: peek did not refresh it
    expect(t.cachedIndices()).toEqual([3, 2]);
  });
});

describe("run lengths of an owner table", () => {
  test("one [owner, length] pair per run, free runs included, in window order", () => {
    expect(runLengths(Int16Array.from([-1, -1, 3, 3, 3, -1, 2]))).toEqual([
      [-1, 2],
      [3, 3],
      [-1, 1],
      [2, 1],
    ]);
    expect(runLengths(Int16Array.from([5]))).toEqual([[5, 1]]);
    expect(runLengths(Int16Array.from([1, 1]))).toEqual([[1, 2]]);
    expect(runLengths(new Int16Array(0))).toEqual([]);
  });
});
