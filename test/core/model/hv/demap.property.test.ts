import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { smallHv, WINDOW_BASE, writeList } from "../../../helpers/small-machine.ts";

const DH = 0x200;
const WINDOW = 40;
const BUF = RA_BASE + 16 * 8192;

/**
 * pci_iommu_demap against a model of the IOTSB, for any per-call limit: an EOK demap reports
 * ret1 = min(n, limit) and exactly the entries [index, index + ret1) are invalid afterwards,
 * nothing else changes; a refused demap changes nothing.
 */
describe("pci_iommu_demap (model-based)", () => {
  test("ret1 = min(n, per-call limit); exactly those entries become invalid", () => {
    let eok = 0;
    let partial = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(
          fc.record({
            map: fc.boolean(),
            index: fc.integer({ min: 0, max: WINDOW + 2 }),
            n: fc.integer({ min: 0, max: 20 }),
            caller: fc.constantFrom(1, 1, 1, 2),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        (limit, ops) => {
          const hv = smallHv({ windowPages: WINDOW, maxTtesPerCall: limit });
          expect(hv.dvmaGrant(0, 1, DH, WINDOW_BASE, 32)).toBe(HV.EOK); // g2 gets 32..39
          expect(hv.dvmaGrant(0, 2, DH, WINDOW_BASE + 32 * 8192, 8)).toBe(HV.EOK);
          writeList(
            hv,
            1,
            RA_BASE,
            Array.from({ length: 20 }, (_, k) => BUF + k * 8192),
          );
          const tsb = hv.iommus.get(DH)!.iotsb;
          const model = Array.from({ length: WINDOW }, () => false);
          for (const op of ops) {
            if (op.map) {
              const st = hv.iommuMap(1, DH, 0, op.index, op.n, 3, RA_BASE);
              if (st === HV.EOK) for (let k = 0; k < hv.ret1; k++) model[op.index + k] = true;
            } else {
              const st = hv.iommuDemap(op.caller, DH, 0, op.index, op.n);
              if (st === HV.EOK) {
                eok++;
                expect(hv.ret1).toBe(Math.min(op.n, limit));
                if (op.n > limit) partial++;
                for (let k = 0; k < hv.ret1; k++) model[op.index + k] = false;
              }
            }
            for (let i = 0; i < WINDOW; i++) expect(tsb.isValid(i)).toBe(model[i]!);
          }
        },
      ),
      { numRuns: 300 },
    );
    expect(eok).toBeGreaterThan(200);
    expect(partial).toBeGreaterThan(50);
  }, 60_000);
});
