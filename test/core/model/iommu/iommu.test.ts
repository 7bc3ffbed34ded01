import { expect, test } from "bun:test";
import { DmaFault, Iommu } from "../../../../core/model/iommu/iommu.ts";
import { Iotlb } from "../../../../core/model/iommu/iotlb.ts";
import { IO_ATTR_READ, IO_ATTR_WRITE } from "../../../../core/model/iommu/iotsb.ts";
import { PAGE_SIZE, PhysMemory } from "../../../../core/model/machine/memory.ts";

const BASE = 0x8000_0000;
const iommu = (isolation: "shared" | "per-device") =>
  new Iommu(0x200, BASE, 8 * PAGE_SIZE, isolation, 2, 2, new PhysMemory(64), {
    iotlbHitNs: 0,
    iotlbMissNs: 100,
  });

test("a requester ID that was never bound is treated as a reset device", () => {
  const io = iommu("shared");
  io.iotsb.set(0, 3, IO_ATTR_READ | IO_ATTR_WRITE);
  expect(io.domainOfRequester(0x42)).toBe(-1);
  expect(io.dma(0x42, BASE, 64, true, 1)).toBe(DmaFault.deviceReset);
});

test("a fault names the DVMA of the page that faulted, not the start of the transfer", () => {
  const io = iommu("per-device");
  io.bindRequester(0x100, 1);
  io.entryOwner.fill(1, 0, 1); // page 0 is the device's domain's, page 1 is not
  io.iotsb.set(0, 3, IO_ATTR_READ | IO_ATTR_WRITE);
  io.iotsb.set(1, 4, IO_ATTR_READ | IO_ATTR_WRITE);
  expect(io.dma(0x100, BASE + 100, PAGE_SIZE, true, 1)).toBe(DmaFault.notOwner);
  expect(io.lastFaultDvma).toBe(BASE + PAGE_SIZE);
});

test("an empty IOTLB caches nothing; a filled one lists exactly what it holds", () => {
  const tlb = new Iotlb(2, 2);
  expect(tlb.cachedIndices()).toEqual([]);
  tlb.insert(5, 9, IO_ATTR_READ);
  expect(tlb.cachedIndices()).toEqual([5]);
  tlb.invalidate(5);
  expect(tlb.cachedIndices()).toEqual([]);
});

test("aligned ranges do not alias: the set index folds the high bits of the page index", () => {
  const tlb = new Iotlb(256, 8);
  // Sixteen 512-page leases: with the low 8 bits alone every base would land in set 0.
  const sets = Array.from({ length: 16 }, (_, k) => tlb.setOf(k * 512));
  expect(new Set(sets).size).toBe(16);
  // Pages of one range still fill consecutive sets (no self-conflict within `sets` pages).
  const inRange = Array.from({ length: 256 }, (_, i) => tlb.setOf(3 * 512 + i));
  expect(new Set(inRange).size).toBe(256);
  expect(new Iotlb(1, 4).setOf(12345)).toBe(0);
});
