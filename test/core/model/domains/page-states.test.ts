import { expect, test } from "bun:test";
import fc from "fast-check";
import { PageStates } from "../../../../core/model/domains/page-states.ts";

test("page states read as a full array would, and hold bytes only for blocks with a non-zero page", () => {
  const PAGES = 5000; // five blocks, the last one partial
  const fill = fc.record({
    value: fc.integer({ min: 0, max: 2 }),
    from: fc.nat(PAGES - 1),
    n: fc.integer({ min: 1, max: 2500 }),
  });
  fc.assert(
    fc.property(fc.array(fill, { maxLength: 40 }), (fills) => {
      const s = new PageStates(PAGES);
      const model = new Uint8Array(PAGES);
      for (const f of fills) {
        const to = Math.min(PAGES, f.from + f.n);
        s.fill(f.value, f.from, to);
        model.fill(f.value, f.from, to);
      }
      for (let p = 0; p < PAGES; p++) if (s.get(p) !== model[p]) expect(s.get(p)).toBe(model[p]!);
      let blocks = 0;
      for (let b = 0; b < PAGES; b += 1024)
        if (model.subarray(b, b + 1024).some((v) => v !== 0)) blocks++;
      expect(s.bytes).toBe(blocks * 1024);
      const want = model.findIndex((v, p) => p >= 100 && p < 3000 && v !== 1);
      expect(s.firstNot(1, 100, 3000)).toBe(want);
    }),
  );
});
