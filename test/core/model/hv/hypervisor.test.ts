import { describe, expect, test } from "bun:test";
import { hypercall } from "../../../../core/model/hv/abi.ts";
import { FN, tsbid } from "../../../../core/model/hv/functions.ts";
import { RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { DmaFault } from "../../../../core/model/iommu/iommu.ts";
import { IO_ATTR_READ, IO_ATTR_WRITE } from "../../../../core/model/iommu/iotsb.ts";
import { smallHv, WINDOW_BASE, writeList } from "../../../helpers/small-machine.ts";

const RW = IO_ATTR_READ | IO_ATTR_WRITE;
const DH = 0x200;
const LIST = RA_BASE; // first page of each guest's memory holds its page list in these tests
const BUF = RA_BASE + 16 * 8192;

function grantedHv(opts: Parameters<typeof smallHv>[0] = {}) {
  const hv = smallHv(opts);
  expect(hv.dvmaGrant(0, 1, DH, WINDOW_BASE, 8)).toBe(HV.EOK);
  expect(hv.dvmaGrant(0, 2, DH, WINDOW_BASE + 8 * 8192, 8)).toBe(HV.EOK);
  return hv;
}

describe("hypervisor: IOMMU services", () => {
  test("a guest maps its granted entries, a device writes exactly those pages, demap makes DMA fault", () => {
    const hv = grantedHv();
    writeList(hv, 1, LIST, [BUF, BUF + 8192]);
    expect(hv.iommuMap(1, DH, 0, 0, 2, RW, LIST)).toBe(HV.EOK);
    expect(hv.ret1).toBe(2);
    const before = hv.memory.content.slice();
    expect(hv.deviceDma(0, WINDOW_BASE + 100, 9000, true, 77)).toBe(DmaFault.none);
    const changed = [...hv.memory.content.keys()].filter((p) => hv.memory.content[p] !== before[p]);
    const mem = hv.domains[1]!.mem;
    expect(changed).toEqual([mem.paPageOf(BUF), mem.paPageOf(BUF + 8192)]);
    expect(hv.memory.content[mem.paPageOf(BUF + 8192)]).toBe(78);
    expect(hv.iommuDemap(1, DH, 0, 0, 2)).toBe(HV.EOK);
    expect(hv.deviceDma(0, WINDOW_BASE, 8192, true, 5)).toBe(DmaFault.noTranslation);
    expect(hv.memory.content[mem.paPageOf(BUF)]).toBe(77);
  });

  test("getmap returns attributes then the caller's RA; unmapped is ENOMAP", () => {
    const hv = grantedHv();
    writeList(hv, 1, LIST, [BUF]);
    hv.iommuMap(1, DH, 0, 3, 1, IO_ATTR_READ, LIST);
    expect(hv.iommuGetmap(1, DH, 0, 3)).toBe(HV.EOK);
    expect([hv.ret1, hv.ret2]).toEqual([IO_ATTR_READ, BUF]);
    expect(hv.iommuGetmap(1, DH, 0, 4)).toBe(HV.ENOMAP);
    expect(hv.iommuGetmap(2, DH, 0, 3)).toBe(HV.ENOACCESS);
  });

  test("refusals change nothing and use the documented codes", () => {
    const hv = grantedHv();
    writeList(hv, 1, LIST, [BUF, RA_BASE + 64 * 1024 * 1024, BUF + 1]);
    const tsb = hv.iommus.get(DH)!.iotsb.attr.slice();
    expect(hv.iommuMap(1, DH, 0, 8, 1, RW, LIST)).toBe(HV.ENOACCESS); // entry 8 belongs to g2
    expect(hv.iommuMap(1, DH, 0, 0, 2, RW, LIST)).toBe(HV.ENORADDR); // second RA not in g1's memory
    expect(hv.iommuMap(1, DH, 0, 0, 3, RW, LIST)).toBe(HV.ENORADDR);
    writeList(hv, 1, LIST, [BUF + 1]);
    expect(hv.iommuMap(1, DH, 0, 0, 1, RW, LIST)).toBe(HV.EBADALIGN);
    expect(hv.iommuMap(1, DH, 0, 0, 1, RW, LIST + 4)).toBe(HV.EBADALIGN);
    expect(hv.iommuMap(1, DH, 1, 0, 1, RW, LIST)).toBe(HV.EINVAL); // tsbnum must be 0
    expect(hv.iommuMap(1, DH, 0, 0, 0, RW, LIST)).toBe(HV.EINVAL);
    expect(hv.iommuMap(1, DH, 0, 0, 1, 0, LIST)).toBe(HV.EINVAL);
    expect(hv.iommuMap(1, DH, 0, 0, 1, 0x8, LIST)).toBe(HV.EINVAL);
    expect(hv.iommuMap(1, 0x999, 0, 0, 1, RW, LIST)).toBe(HV.EINVAL);
    expect(hv.iommuMap(1, DH, 0, 0, 1, RW, 0x10)).toBe(HV.ENORADDR); // list not in its memory
    expect(hv.iommus.get(DH)!.iotsb.attr).toEqual(tsb);
  });

  test("partial completion: the hypervisor maps at most maxTtesPerCall and the caller loops", () => {
    const hv = grantedHv({ maxTtesPerCall: 3 });
    writeList(
      hv,
      1,
      LIST,
      Array.from({ length: 8 }, (_, k) => BUF + k * 8192),
    );
    let done = 0;
    let calls = 0;
    while (done < 8) {
      expect(hv.iommuMap(1, DH, 0, done, 8 - done, RW, LIST + done * 8)).toBe(HV.EOK);
      done += hv.ret1;
      calls++;
    }
    expect(calls).toBe(3);
    expect(hv.iommus.get(DH)!.iotsb.valid).toBe(8);
  });

  test("only the control domain may grant, revoke or read ownership", () => {
    const hv = smallHv();
    expect(hv.dvmaGrant(1, 1, DH, WINDOW_BASE, 4)).toBe(HV.ENOACCESS);
    expect(hv.dvmaRevoke(1, 1, DH, WINDOW_BASE, 4)).toBe(HV.ENOACCESS);
    expect(hv.dvmaInfo(2, DH, WINDOW_BASE)).toBe(HV.ENOACCESS);
    expect(hv.dvmaGrant(0, 1, DH, WINDOW_BASE, 4)).toBe(HV.EOK);
    expect(hv.dvmaGrant(0, 2, DH, WINDOW_BASE + 3 * 8192, 4)).toBe(HV.EBUSY);
    expect(hv.dvmaGrant(0, 2, DH, WINDOW_BASE + 62 * 8192, 4)).toBe(HV.EINVAL); // leaves the window
    expect(hv.dvmaGrant(0, 2, DH, WINDOW_BASE + 1, 4)).toBe(HV.EBADALIGN);
    expect(hv.dvmaInfo(0, DH, WINDOW_BASE)).toBe(HV.EOK);
    expect([hv.ret1, hv.ret2]).toEqual([1, 4]);
    expect(hv.dvmaRevoke(0, 2, DH, WINDOW_BASE, 4)).toBe(HV.ENOMAP); // not g2's
  });

  test("revoke demaps and flushes before the range is free", () => {
    const hv = grantedHv();
    writeList(hv, 1, LIST, [BUF]);
    hv.iommuMap(1, DH, 0, 0, 1, RW, LIST);
    expect(hv.deviceDma(0, WINDOW_BASE, 64, true, 1)).toBe(0); // now cached in the IOTLB
    expect(hv.dvmaRevoke(0, 1, DH, WINDOW_BASE, 8)).toBe(HV.EOK);
    const io = hv.iommus.get(DH)!;
    expect(io.iotsb.valid).toBe(0);
    expect(io.iotlb.holds(0)).toBe(false);
    expect(hv.deviceDma(0, WINDOW_BASE, 64, true, 2)).toBe(DmaFault.noTranslation);
    expect(hv.iommuMap(1, DH, 0, 0, 1, RW, LIST)).toBe(HV.ENOACCESS);
  });

  test("shared isolation lets a device reach another guest's mapping; per-device blocks it", () => {
    for (const isolation of ["shared", "per-device"] as const) {
      const hv = grantedHv({ isolation });
      writeList(hv, 2, LIST, [BUF]);
      hv.iommuMap(2, DH, 0, 8, 1, RW, LIST);
      const fault = hv.deviceDma(0, WINDOW_BASE + 8 * 8192, 64, true, 9); // dev1 belongs to g1
      expect(fault).toBe(isolation === "shared" ? DmaFault.none : DmaFault.notOwner);
    }
  });

  test("a dead guest's TTEs, IOTLB entries, device and calls are gone at once", () => {
    const hv = grantedHv();
    writeList(hv, 1, LIST, [BUF]);
    hv.iommuMap(1, DH, 0, 0, 1, RW, LIST);
    hv.deviceDma(0, WINDOW_BASE, 64, true, 1);
    const dead: number[] = [];
    hv.onDeath((d) => dead.push(d));
    hv.killDomain(1, "test");
    expect(dead).toEqual([1]);
    const io = hv.iommus.get(DH)!;
    expect(io.iotsb.valid).toBe(0);
    expect(io.iotlb.holds(0)).toBe(false);
    expect(hv.deviceDma(0, WINDOW_BASE, 64, true, 1)).toBe(DmaFault.deviceReset);
    expect(hv.iommuMap(1, DH, 0, 0, 1, RW, LIST)).toBe(HV.ENOACCESS);
    expect(hv.domains[1]!.mem.paPageOf(BUF)).toBeGreaterThan(0);
    expect(hv.memory.owner[hv.domains[1]!.mem.paPageOf(BUF)]).toBe(-1);
  });
});

describe("hypervisor: raw 64-bit ABI", () => {
  test("dispatches by function number with sun4v register conventions", () => {
    const hv = grantedHv();
    writeList(hv, 1, LIST, [BUF]);
    const r = hypercall(
      hv,
      1,
      BigInt(FN.PCI_IOMMU_MAP),
      BigInt(DH),
      tsbid(0, 2),
      1n,
      BigInt(RW),
      BigInt(LIST),
    );
    expect(r).toEqual({ status: HV.EOK, ret1: 1n, ret2: 0n });
    const g = hypercall(hv, 1, BigInt(FN.PCI_IOMMU_GETMAP), BigInt(DH), tsbid(0, 2));
    expect(g).toEqual({ status: HV.EOK, ret1: BigInt(RW), ret2: BigInt(BUF) });
    expect(
      hypercall(hv, 1, BigInt(FN.PCI_IOMMU_MAP), BigInt(DH), tsbid(1, 2), 1n, 3n, BigInt(LIST))
        .status,
    ).toBe(HV.EINVAL);
    expect(hypercall(hv, 1, 0xffffn).status).toBe(HV.EBADTRAP);
    expect(hypercall(hv, 1, BigInt(FN.PCI_IOMMU_GETBYPASS)).status).toBe(HV.ENOTSUPPORTED);
    expect(hypercall(hv, 1, 0x196n).status).toBe(HV.ENOTSUPPORTED);
    // A list pointer beyond 2^53 is nobody's memory; entry 8 is g2's.
    expect(
      hypercall(hv, 1, BigInt(FN.PCI_IOMMU_MAP), BigInt(DH), 0n, 1n, 3n, (1n << 63n) | 8n).status,
    ).toBe(HV.ENORADDR);
    expect(
      hypercall(hv, 1, BigInt(FN.PCI_IOMMU_MAP), BigInt(DH), 8n, 1n, 3n, (1n << 63n) | 8n).status,
    ).toBe(HV.ENOACCESS);
    expect(
      hypercall(hv, 1, BigInt(FN.PCI_IOMMU_MAP), BigInt(DH), 0n, 1n, 3n, (1n << 63n) | 4n).status,
    ).toBe(HV.EBADALIGN);
    const info = hypercall(
      hv,
      0,
      BigInt(FN.DVMA_INFO),
      BigInt(DH),
      BigInt(WINDOW_BASE + 16 * 8192),
    );
    expect(info.ret1).toBe((1n << 64n) - 1n); // -1 = free, as a 64-bit register
  });
});
