import { describe, expect, test } from "bun:test";
import { RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import {
  guestErrors,
  hypervisorViolations,
  staleTranslations,
} from "../../../../core/model/hv/invariants.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { DmaFault } from "../../../../core/model/iommu/iommu.ts";
import { IO_ATTR_READ, IO_ATTR_WRITE } from "../../../../core/model/iommu/iotsb.ts";
import { smallHv, WINDOW_BASE, writeList } from "../../../helpers/small-machine.ts";

const RW = IO_ATTR_READ | IO_ATTR_WRITE;
const DH = 0x200;
const LIST = RA_BASE;
const OLD = RA_BASE + 16 * 8192;
const NEW = RA_BASE + 17 * 8192;

function mappedAndCached() {
  const hv = smallHv();
  expect(hv.dvmaGrant(0, 1, DH, WINDOW_BASE, 8)).toBe(HV.EOK);
  writeList(hv, 1, LIST, [OLD]);
  expect(hv.iommuMap(1, DH, 0, 0, 1, RW, LIST)).toBe(HV.EOK);
  expect(hv.deviceDma(0, WINDOW_BASE, 64, true, 1)).toBe(DmaFault.none); // now in the IOTLB
  return hv;
}

describe("sun4v v1: MAP over a valid entry does not flush (shared/reference/sun4v.md)", () => {
  test("a remap without demap leaves the stale translation visible to the device, and is reported", () => {
    const hv = mappedAndCached();
    const mem = hv.domains[1]!.mem;
    writeList(hv, 1, LIST, [NEW]);
    expect(hv.iommuMap(1, DH, 0, 0, 1, RW, LIST)).toBe(HV.EOK);
    expect(hv.deviceDma(0, WINDOW_BASE, 64, true, 42)).toBe(DmaFault.none);
    expect(hv.memory.content[mem.paPageOf(OLD)]).toBe(42); // the device still writes the old page
    expect(hv.memory.content[mem.paPageOf(NEW)]).toBe(0);
    expect(hv.remaps[1]).toBe(1);
    expect(guestErrors(hv)).toEqual([
      "g1: 1 MAPs over a valid entry without a demap",
      `rc 512 entry 0: the IOTLB still translates to page ${mem.paPageOf(OLD)}, the TTE to ${mem.paPageOf(NEW)} (remapped without a demap)`,
    ]);
    // The guest's own mistake: every safety invariant still holds.
    expect(hypervisorViolations(hv)).toEqual([]);
    // Demap flushes; the next map is seen by the device.
    expect(hv.iommuDemap(1, DH, 0, 0, 1)).toBe(HV.EOK);
    expect(hv.iommuMap(1, DH, 0, 0, 1, RW, LIST)).toBe(HV.EOK);
    expect(hv.deviceDma(0, WINDOW_BASE, 64, true, 7)).toBe(DmaFault.none);
    expect(hv.memory.content[mem.paPageOf(NEW)]).toBe(7);
    expect(staleTranslations(hv)).toEqual([]);
    expect(hv.remaps[1]).toBe(1);
  });

  test("a remap that changes only the attributes is stale too: a read-only remap still lets the device write", () => {
    const hv = mappedAndCached();
    expect(hv.iommuMap(1, DH, 0, 0, 1, IO_ATTR_READ, LIST)).toBe(HV.EOK);
    expect(hv.deviceDma(0, WINDOW_BASE, 64, true, 3)).toBe(DmaFault.none);
    expect(staleTranslations(hv)).toHaveLength(1);
  });

  test("demap then map is no guest error", () => {
    const hv = mappedAndCached();
    expect(hv.iommuDemap(1, DH, 0, 0, 1)).toBe(HV.EOK);
    writeList(hv, 1, LIST, [NEW]);
    expect(hv.iommuMap(1, DH, 0, 0, 1, RW, LIST)).toBe(HV.EOK);
    expect(guestErrors(hv)).toEqual([]);
  });

  test("a cached translation that reaches a page its entry's owner does not own is a safety violation", () => {
    const hv = mappedAndCached();
    const io = hv.iommus.get(DH)!;
    const foreign = hv.domains[2]!.mem.paPageOf(OLD);
    io.iotlb.invalidate(0);
    io.iotlb.insert(0, foreign, RW); // what a MAP that let a foreign translation linger would leave
    expect(hypervisorViolations(hv)).toEqual([
      `rc 512 entry 0: IOTLB -> page ${foreign} owned by 2, entry owned by 1`,
    ]);
  });
});
