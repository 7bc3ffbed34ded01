/**
 * One root complex's IOMMU translating device DMA: each fault, its counter and faulting address,
 * the translation cost, what a completed DMA writes or reads, and that a fault touches nothing.
 */
import { describe, expect, test } from "bun:test";
import { DMA_FAULT_NAMES, DmaFault, Iommu } from "../../../../core/model/iommu/iommu.ts";
import { IO_ATTR_READ, IO_ATTR_WRITE } from "../../../../core/model/iommu/iotsb.ts";
import { PAGE_SIZE, PhysMemory } from "../../../../core/model/machine/memory.ts";

const BASE = 0x8000_0000;
const RW = IO_ATTR_READ | IO_ATTR_WRITE;
const RID = 0x100;
const HIT = 7;
const MISS = 100;

function iommu(isolation: "shared" | "per-device" = "shared", pages = 8, memPages = 64) {
  const mem = new PhysMemory(memPages);
  const io = new Iommu(0x200, BASE, pages * PAGE_SIZE, isolation, 2, 2, mem, {
    iotlbHitNs: HIT,
    iotlbMissNs: MISS,
  });
  io.bindRequester(RID, 1);
  return { io, mem };
}

const faults = (io: Iommu) => [...io.faults];

describe("IOMMU: construction and requesters", () => {
  test("window geometry, an empty table, every entry free", () => {
    const { io } = iommu("per-device", 8);
    expect([io.devhandle, io.windowBase, io.windowPages, io.isolation]).toEqual([
      0x200,
      BASE,
      8,
      "per-device",
    ]);
    expect(io.iotsb.entries).toBe(8);
    expect([...io.entryOwner]).toEqual(Array(8).fill(-1));
    expect([io.iotlb.sets, io.iotlb.ways]).toEqual([2, 2]);
    expect([io.dmas, io.ownedEntries, io.lastCostNs, io.lastFaultDvma]).toEqual([0, 0, 0, 0]);
    expect(faults(io)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(DMA_FAULT_NAMES.length).toBe(6);
    expect(DMA_FAULT_NAMES[DmaFault.notOwner]).toBe("not-owner");
  });

  test("a requester is bound to a domain, rebinding replaces it, -1 resets it", () => {
    const { io } = iommu();
    expect(io.domainOfRequester(RID)).toBe(1);
    expect(io.domainOfRequester(RID + 1)).toBe(-1);
    io.bindRequester(RID, 3);
    expect(io.domainOfRequester(RID)).toBe(3);
    io.bindRequester(RID, -1);
    expect(io.domainOfRequester(RID)).toBe(-1);
    expect(io.dma(RID, BASE, 8, true, 1)).toBe(DmaFault.deviceReset);
    expect(io.domainOfRequester(0xffff)).toBe(-1);
  });

  test("invalidate(index, n) drops exactly those entries from the IOTLB", () => {
    const { io } = iommu();
    for (const i of [0, 1, 2, 3]) io.iotlb.insert(i, i, RW);
    io.invalidate(1, 2);
    expect([0, 1, 2, 3].map((i) => io.iotlb.holds(i))).toEqual([true, false, false, true]);
  });
});

describe("IOMMU: DMA", () => {
  test("a write over two pages: each page gets tag + k, a miss each, then hits", () => {
    const { io, mem } = iommu();
    io.iotsb.set(2, 10, RW);
    io.iotsb.set(3, 11, RW);
    const before = mem.content.slice();
    expect(io.dma(RID, BASE + 2 * PAGE_SIZE + 100, PAGE_SIZE, true, 0xffff_ffff)).toBe(
      DmaFault.none,
    );
    expect(mem.content[10]).toBe(0xffff_ffff);
    expect(mem.content[11]).toBe(0); // (tag + 1) >>> 0 wraps
    const changed = [...mem.content.keys()].filter((p) => mem.content[p] !== before[p]);
    expect(changed).toEqual([10]);
    expect(io.lastCostNs).toBe(2 * MISS);
    expect(io.iotlb.holds(2) && io.iotlb.holds(3)).toBe(true);
    expect(io.dma(RID, BASE + 2 * PAGE_SIZE, 2 * PAGE_SIZE, true, 5)).toBe(DmaFault.none);
    expect([mem.content[10], mem.content[11]]).toEqual([5, 6]);
    expect(io.lastCostNs).toBe(2 * HIT);
    expect(io.dmas).toBe(2);
    expect(faults(io)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test("a read copies each page's content into readOut, no further than readOut holds", () => {
    const { io, mem } = iommu();
    io.iotsb.set(0, 20, IO_ATTR_READ);
    io.iotsb.set(1, 21, IO_ATTR_READ);
    io.iotsb.set(2, 22, IO_ATTR_READ);
    mem.content.set([3, 4, 5], 20);
    const out = new Uint32Array([77, 77, 77, 77]);
    expect(io.dma(RID, BASE, 3 * PAGE_SIZE, false, 9, out)).toBe(DmaFault.none);
    expect([...out]).toEqual([3, 4, 5, 77]); // nothing past the pages read
    const short = new Uint32Array(2);
    expect(io.dma(RID, BASE, 3 * PAGE_SIZE, false, 9, short)).toBe(DmaFault.none);
    expect([...short]).toEqual([3, 4]);
    expect([mem.content[20], mem.content[21], mem.content[22]]).toEqual([3, 4, 5]); // a read writes nothing
    expect(io.dma(RID, BASE, 8, false, 9)).toBe(DmaFault.none); // no readOut: fine
  });

  test("the window's last byte is inside; one byte past it, before it, or no bytes is outside", () => {
    const { io } = iommu("shared", 8);
    io.iotsb.set(7, 3, RW);
    io.iotsb.set(0, 4, RW);
    const end = BASE + 8 * PAGE_SIZE;
    expect(io.dma(RID, end - 1, 1, true, 1)).toBe(DmaFault.none);
    expect(io.dma(RID, BASE, 1, true, 1)).toBe(DmaFault.none);
    expect(io.dma(RID, end - 1, 2, true, 1)).toBe(DmaFault.outsideWindow);
    expect(io.lastFaultDvma).toBe(end - 1);
    expect(io.dma(RID, end, 1, true, 1)).toBe(DmaFault.outsideWindow);
    expect(io.dma(RID, BASE - 1, 1, true, 1)).toBe(DmaFault.outsideWindow);
    expect(io.lastFaultDvma).toBe(BASE - 1);
    expect(io.dma(RID, BASE, 0, true, 1)).toBe(DmaFault.outsideWindow);
    expect(io.dma(RID, BASE, -5, true, 1)).toBe(DmaFault.outsideWindow);
    expect(io.faults[DmaFault.outsideWindow]).toBe(5);
    expect(io.dmas).toBe(7);
  });

  test("no translation: faults at the first invalid page, writes nothing, cost reset", () => {
    const { io, mem } = iommu();
    io.iotsb.set(0, 10, RW);
    io.dma(RID, BASE, 8, true, 1);
    expect(io.lastCostNs).toBe(MISS);
    const before = mem.content.slice();
    expect(io.dma(RID, BASE, 2 * PAGE_SIZE, true, 2)).toBe(DmaFault.noTranslation);
    expect(io.lastFaultDvma).toBe(BASE + PAGE_SIZE);
    expect(io.lastCostNs).toBe(0);
    expect(mem.content).toEqual(before);
    expect(io.faults[DmaFault.noTranslation]).toBe(1);
    expect(io.iotlb.holds(1)).toBe(false);
  });

  test("protection: a device write to a read-only page faults, a read of a write-only page too", () => {
    const { io, mem } = iommu();
    io.iotsb.set(0, 10, IO_ATTR_READ);
    io.iotsb.set(1, 11, IO_ATTR_WRITE);
    expect(io.dma(RID, BASE + 8, 8, true, 3)).toBe(DmaFault.protection);
    expect(io.lastFaultDvma).toBe(BASE);
    expect(mem.content[10]).toBe(0);
    expect(io.dma(RID, BASE + PAGE_SIZE, 8, false, 3)).toBe(DmaFault.protection);
    expect(io.lastFaultDvma).toBe(BASE + PAGE_SIZE);
    // The same pages again, now from the IOTLB: the cached attributes are checked too.
    expect(io.iotlb.holds(0)).toBe(true);
    expect(io.dma(RID, BASE, 8, true, 3)).toBe(DmaFault.protection);
    expect(io.dma(RID, BASE, 8, false, 3)).toBe(DmaFault.none);
    expect(io.dma(RID, BASE + PAGE_SIZE, 8, true, 4)).toBe(DmaFault.none);
    expect(mem.content[11]).toBe(4);
    expect(io.faults[DmaFault.protection]).toBe(3);
  });

  test("per-device isolation: an entry of another domain faults as not-owner; shared lets it through", () => {
    for (const isolation of ["per-device", "shared"] as const) {
      const { io, mem } = iommu(isolation);
      io.iotsb.set(0, 10, RW);
      io.iotsb.set(1, 11, RW);
      io.entryOwner[0] = 1;
      io.entryOwner[1] = 2;
      const r = io.dma(RID, BASE, 2 * PAGE_SIZE, true, 6);
      if (isolation === "per-device") {
        expect(r).toBe(DmaFault.notOwner);
        expect(io.lastFaultDvma).toBe(BASE + PAGE_SIZE);
        expect(mem.content[10]).toBe(0);
        expect(io.faults[DmaFault.notOwner]).toBe(1);
        expect(io.dma(RID, BASE, 8, true, 6)).toBe(DmaFault.none); // its own entry
      } else {
        expect(r).toBe(DmaFault.none);
        expect([mem.content[10], mem.content[11]]).toEqual([6, 7]);
      }
    }
  });

  test("a DMA over more pages than twice the scratch (256) translates every page", () => {
    const pages = 600;
    const { io, mem } = iommu("shared", pages, pages + 8);
    for (let i = 0; i < pages; i++) io.iotsb.set(i, i + 1, RW);
    expect(io.dma(RID, BASE, pages * PAGE_SIZE, true, 1000)).toBe(DmaFault.none);
    expect(mem.content[1]).toBe(1000);
    expect(mem.content[pages]).toBe(1000 + pages - 1);
    expect(io.dma(RID, BASE, 300 * PAGE_SIZE, true, 0)).toBe(DmaFault.none);
    expect(mem.content[300]).toBe(299);
    expect(mem.content[301]).toBe(1300);
    // The 4-entry IOTLB holds pages 596..599 when the second DMA starts at 0: all misses.
    expect(io.lastCostNs).toBe(300 * MISS);
    expect([io.iotlb.hits, io.iotlb.misses]).toEqual([0, 300 + pages]);
  });

  test("a device of domain 0 (the control domain) is bound, not reset", () => {
    const { io, mem } = iommu();
    io.bindRequester(0x200, 0);
    io.iotsb.set(0, 10, RW);
    expect(io.dma(0x200, BASE, 8, true, 4)).toBe(DmaFault.none);
    expect(mem.content[10]).toBe(4);
  });
});
