import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Hypervisor } from "../../../../core/model/hv/hypervisor.ts";
import { OWNER_FREE, PhysMemory } from "../../../../core/model/machine/memory.ts";
import { parseCostModel, parseMachine } from "../../../../core/model/machine/parse.ts";

/** First fit by scanning from page 0: what PhysMemory.allocate must agree with. */
function scanFirstFit(owner: Int16Array, npages: number): number {
  let run = 0;
  for (let p = 0; p < owner.length; p++) {
    run = owner[p] === OWNER_FREE ? run + 1 : 0;
    if (run === npages) return p - npages + 1;
  }
  return -1;
}

const op = fc.oneof(
  fc.record({
    op: fc.constant("alloc" as const),
    owner: fc.nat(7),
    npages: fc.integer({ min: 1, max: 40 }),
  }),
  fc.record({ op: fc.constant("release" as const), owner: fc.nat(7) }),
);

describe("physical memory", () => {
  test("allocate picks the pages a first-fit scan from page 0 picks; releaseAll frees exactly the owner's", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const mem = new PhysMemory(256);
        const model = new Int16Array(256).fill(OWNER_FREE);
        for (const o of ops) {
          if (o.op === "alloc") {
            const want = scanFirstFit(model, o.npages);
            expect(mem.allocate(o.owner, o.npages)).toBe(want);
            if (want >= 0) model.fill(o.owner, want, want + o.npages);
          } else {
            let n = 0;
            for (let p = 0; p < 256; p++) {
              if (model[p] !== o.owner) continue;
              model[p] = OWNER_FREE;
              n++;
            }
            mem.content[mem.owner.indexOf(o.owner)] = 7;
            expect(mem.releaseAll(o.owner)).toBe(n);
            expect(mem.content.every((c) => c === 0)).toBe(true);
          }
          expect([...mem.owner]).toEqual([...model]);
        }
      }),
    );
  });

  test("boot work grows linearly with the domains: one free run examined per domain", () => {
    const probes = (guests: number) => {
      const md = parseMachine({
        rootComplexes: [{ devhandle: 0x200 }],
        domains: [
          { name: "primary", role: "control", memoryMiB: 64 },
          ...Array.from({ length: guests }, (_, i) => ({ name: `g${i}`, memoryMiB: 8 })),
        ],
      });
      return new Hypervisor(md, parseCostModel({})).memory.probes;
    };
    const counts = [16, 32, 64, 127].map(probes);
    // The hypervisor's own pages, then each domain: one probe each, whatever came before.
    expect(counts).toEqual([16 + 2, 32 + 2, 64 + 2, 127 + 2]);
  });
});
