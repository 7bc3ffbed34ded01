import { expect, test } from "bun:test";
import fc from "fast-check";
import { NIL, RangeTree } from "../../../../plugins/policies/iova/range-tree.ts";

/** Black height of x's subtree; throws on a red-red edge or unequal black heights. */
function blackHeight(t: RangeTree, x: number): number {
  if (x === NIL) return 1;
  if (t.red[x] && (t.red[t.left[x]] || t.red[t.right[x]]))
    throw new Error(`red node ${x} has a red child`);
  for (const c of [t.left[x], t.right[x]])
    if (c !== NIL && t.parent[c] !== x) throw new Error("bad parent link");
  const l = blackHeight(t, t.left[x]);
  if (l !== blackHeight(t, t.right[x])) throw new Error(`unequal black heights under ${x}`);
  return l + (t.red[x] ? 0 : 1);
}

function checkGaps(t: RangeTree, x: number, prevHi: { v: number }): number {
  if (x === NIL) return -1;
  const l = checkGaps(t, t.left[x], prevHi);
  expect(t.gap[x]).toBe(t.lo[x] - prevHi.v);
  prevHi.v = t.hi[x] + 1;
  const r = checkGaps(t, t.right[x], prevHi);
  expect(t.maxGap[x]).toBe(Math.max(t.gap[x], l, r));
  return t.maxGap[x];
}

test("range tree: red-black shape, order and subtree max gaps hold after any inserts and erases", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.nat(511)), { maxLength: 300, size: "max" }),
      (ops) => {
        const t = new RangeTree(true);
        const live = new Map<number, number>(); // page -> handle
        for (const [ins, page] of ops) {
          if (ins && !live.has(page)) live.set(page, t.insert(page, page, 0));
          else if (!ins && live.size > 0) {
            const keys = [...live.keys()];
            const k = keys[page % keys.length]!;
            t.erase(live.get(k)!);
            live.delete(k);
          }
          expect(t.root === NIL || !t.red[t.root]).toBe(true);
          blackHeight(t, t.root);
          checkGaps(t, t.root, { v: 0 });
        }
        const inOrder: number[] = [];
        for (let h = t.first(); h !== NIL; h = t.next(h)) inOrder.push(t.lo[h]);
        expect(inOrder).toEqual([...live.keys()].sort((a, b) => a - b));
        expect(t.size).toBe(live.size);
      },
    ),
    { seed: 12, verbose: true },
  );
});
