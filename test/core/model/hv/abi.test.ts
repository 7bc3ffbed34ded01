/**
 * The raw fast-trap ABI register by register, the status codes and the function numbers: each
 * function reads its arguments from the registers sun4v names, and refused traps are answered and
 * counted. Fast on purpose (a mutation run executes it per mutant).
 */
import { describe, expect, test } from "bun:test";
import { EventBus } from "../../../../core/model/events/bus.ts";
import { hypercall } from "../../../../core/model/hv/abi.ts";
import {
  FN,
  FN_NAMES,
  SYNC_FOR_CPU,
  SYNC_FOR_DEVICE,
  tsbid,
} from "../../../../core/model/hv/functions.ts";
import { Hypervisor, RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import { LdcChannel } from "../../../../core/model/hv/ldc.ts";
import { LDC_COPY_IN, LDC_COPY_OUT } from "../../../../core/model/hv/ldc-map.ts";
import { DOCUMENTED_STATUSES, HV, statusName } from "../../../../core/model/hv/status.ts";
import { IO_ATTR_READ, IO_ATTR_WRITE } from "../../../../core/model/iommu/iotsb.ts";
import { parseCostModel } from "../../../../core/model/machine/parse.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";
import { smallMachine, WINDOW_BASE, writeList } from "../../../helpers/small-machine.ts";

const P = 8192;
const DH = 0x200;
const RW = IO_ATTR_READ | IO_ATTR_WRITE;
const LIST = RA_BASE;
const BUF = RA_BASE + 16 * P;
const TOP = 1n << 64n;
const b = BigInt;

function setup() {
  const bus = new EventBus(() => 0);
  const fns: string[] = [];
  bus.on("hcall", (e) => fns.push(e.fn));
  const cost = parseCostModel({});
  const hv = new Hypervisor(smallMachine({ windowPages: 64 }), cost, bus);
  expect(hv.dvmaGrant(0, 1, DH, WINDOW_BASE, 8)).toBe(HV.EOK);
  writeList(hv, 1, LIST, [BUF, BUF + P, BUF + 2 * P]);
  fns.length = 0;
  return { hv, io: hv.iommus.get(DH)!, fns, cost };
}

describe("status codes and function numbers (Linux hypervisor.h)", () => {
  test("the documented statuses, their names, and a name for any other number", () => {
    expect(HV).toEqual({
      EOK: 0,
      ENOCPU: 1,
      ENORADDR: 2,
      ENOINTR: 3,
      EBADPGSZ: 4,
      EBADTSB: 5,
      EINVAL: 6,
      EBADTRAP: 7,
      EBADALIGN: 8,
      EWOULDBLOCK: 9,
      ENOACCESS: 10,
      EIO: 11,
      ECPUERROR: 12,
      ENOTSUPPORTED: 13,
      ENOMAP: 14,
      ETOOMANY: 15,
      ECHANNEL: 16,
      EBUSY: 17,
      EUNAVAILABLE: 23,
    });
    expect(DOCUMENTED_STATUSES.size).toBe(19);
    expect(DOCUMENTED_STATUSES.has(23)).toBe(true);
    expect(DOCUMENTED_STATUSES.has(18)).toBe(false);
    expect(statusName(6)).toBe("EINVAL");
    expect(statusName(0)).toBe("EOK");
    expect(statusName(18)).toBe("status 18");
  });

  test("function numbers, their names, tsbid and sync directions", () => {
    expect(FN).toEqual({
      PCI_IOMMU_MAP: 0xb0,
      PCI_IOMMU_DEMAP: 0xb1,
      PCI_IOMMU_GETMAP: 0xb2,
      PCI_IOMMU_GETBYPASS: 0xb3,
      PCI_DMA_SYNC: 0xb8,
      LDC_COPY: 0xec,
      IOTSB_FIRST: 0x190,
      IOTSB_LAST: 0x19a,
      DVMA_GRANT: 0x1f0,
      DVMA_REVOKE: 0x1f1,
      DVMA_INFO: 0x1f2,
    });
    expect(FN_NAMES).toEqual({
      176: "pci_iommu_map",
      177: "pci_iommu_demap",
      178: "pci_iommu_getmap",
      179: "pci_iommu_getbypass",
      184: "pci_dma_sync",
      236: "ldc_copy",
      496: "dvma_grant",
      497: "dvma_revoke",
      498: "dvma_info",
    });
    expect(tsbid(0, 5)).toBe(5n);
    expect(tsbid(1, 2)).toBe(0x1_0000_0002n);
    expect(tsbid(3, -1)).toBe(0x3_ffff_ffffn);
    expect([SYNC_FOR_DEVICE, SYNC_FOR_CPU]).toEqual([1, 2]);
  });
});

describe("raw ABI: each function's registers", () => {
  test("pci_iommu_map: devhandle, tsbid (index in the low 32 bits), count, attributes, list", () => {
    const { hv, io, fns } = setup();
    const r = hypercall(hv, 1, b(FN.PCI_IOMMU_MAP), b(DH), tsbid(0, 4), 2n, b(RW), b(LIST + 8));
    expect(r).toEqual({ status: HV.EOK, ret1: 2n, ret2: 0n });
    const mem = hv.domains[1]!.mem;
    expect([io.iotsb.pa[4], io.iotsb.pa[5]]).toEqual([
      mem.paPageOf(BUF + P),
      mem.paPageOf(BUF + 2 * P),
    ]);
    expect(io.iotsb.valid).toBe(2);
    expect(fns).toEqual(["pci_iommu_map"]);
    // Registers are 64-bit: a negative BigInt stands for its two's complement.
    const wrapped = hypercall(
      hv,
      1,
      b(FN.PCI_IOMMU_MAP) - TOP,
      b(DH) - TOP,
      0n,
      1n - TOP,
      1n,
      b(LIST),
    );
    expect(wrapped).toEqual({ status: HV.EOK, ret1: 1n, ret2: 0n });
    expect(io.iotsb.attr[0]! & 7).toBe(IO_ATTR_READ);
    // An unaligned list stays unaligned, however large; attributes above 8 bits are refused.
    expect(hypercall(hv, 1, b(FN.PCI_IOMMU_MAP), b(DH), 0n, 1n, 3n, b(LIST + 4)).status).toBe(
      HV.EBADALIGN,
    );
    expect(hypercall(hv, 1, b(FN.PCI_IOMMU_MAP), b(DH), 0n, 1n, 0x103n, b(LIST)).status).toBe(
      HV.EINVAL,
    );
    // 2^32 + 3 reads as 3 to JS bit operations: only the register width check refuses it.
    const valid = io.iotsb.valid;
    expect(
      hypercall(hv, 1, b(FN.PCI_IOMMU_MAP), b(DH), tsbid(0, 6), 1n, (1n << 32n) | 3n, b(LIST))
        .status,
    ).toBe(HV.EINVAL);
    expect(io.iotsb.valid).toBe(valid);
    expect(hypercall(hv, 1, b(FN.PCI_IOMMU_MAP), b(DH), tsbid(0, 8), 1n, 3n, b(LIST)).status).toBe(
      HV.ENOACCESS,
    );
  });

  test("pci_iommu_demap: devhandle, tsbid, count", () => {
    const { hv, io } = setup();
    hv.iommuMap(1, DH, 0, 0, 3, RW, LIST);
    expect(hypercall(hv, 1, b(FN.PCI_IOMMU_DEMAP), b(DH), tsbid(0, 1), 2n)).toEqual({
      status: HV.EOK,
      ret1: 2n,
      ret2: 0n,
    });
    expect([io.iotsb.isValid(0), io.iotsb.isValid(1), io.iotsb.isValid(2)]).toEqual([
      true,
      false,
      false,
    ]);
    expect(hypercall(hv, 1, b(FN.PCI_IOMMU_DEMAP), b(DH), tsbid(1, 0), 1n).status).toBe(HV.EINVAL);
    expect(hypercall(hv, 1, b(FN.PCI_IOMMU_DEMAP), b(DH), tsbid(0, 8), 1n).status).toBe(
      HV.ENOACCESS,
    );
  });

  test("pci_iommu_getmap: attributes in ret1, the RA in ret2", () => {
    const { hv } = setup();
    hv.iommuMap(1, DH, 0, 0, 3, IO_ATTR_WRITE, LIST);
    expect(hypercall(hv, 1, b(FN.PCI_IOMMU_GETMAP), b(DH), tsbid(0, 2))).toEqual({
      status: HV.EOK,
      ret1: b(IO_ATTR_WRITE),
      ret2: b(BUF + 2 * P),
    });
    expect(hypercall(hv, 1, b(FN.PCI_IOMMU_GETMAP), b(DH), tsbid(1, 2)).status).toBe(HV.EINVAL);
    expect(hypercall(hv, 1, b(FN.PCI_IOMMU_GETMAP), b(DH), tsbid(0, 3)).status).toBe(HV.ENOMAP);
  });

  test("pci_dma_sync: devhandle, RA, size, direction", () => {
    const { hv } = setup();
    const sync = (ra: number, size: bigint, dir: bigint) =>
      hypercall(hv, 1, b(FN.PCI_DMA_SYNC), b(DH), b(ra), size, dir);
    expect(sync(BUF, 100n, b(SYNC_FOR_CPU))).toEqual({ status: HV.EOK, ret1: 100n, ret2: 0n });
    expect(sync(BUF, 100n, 3n).status).toBe(HV.EINVAL);
    expect(sync(BUF, 0n, 1n).status).toBe(HV.EINVAL);
    expect(sync(0x10, 8n, 1n).status).toBe(HV.ENORADDR);
    expect(sync(BUF, 1n << 60n, 1n).status).toBe(HV.ENORADDR);
  });

  test("ldc_copy: channel, direction, cookie, RA, length", () => {
    const { hv } = setup();
    const ch = new LdcChannel(
      new Simulator(),
      5,
      0,
      1,
      { queueEntries: 4, latencyNs: 1, lossRate: 0 },
      new Rng(1),
    );
    hv.addChannel(ch);
    const g = hv.domains[1]!.mem;
    const c = hv.domains[0]!.mem;
    hv.memory.content[g.paPageOf(BUF)] = 42;
    const cookie = hv.ldcBind(1, 5, BUF, P, 3);
    const dst = RA_BASE + 30 * P;
    const r = hypercall(hv, 0, b(FN.LDC_COPY), 5n, b(LDC_COPY_IN), b(cookie), b(dst), 100n);
    expect(r).toEqual({ status: HV.EOK, ret1: 100n, ret2: 0n });
    expect(hv.memory.content[c.paPageOf(dst)]).toBe(42);
    hv.memory.content[c.paPageOf(dst)] = 43;
    expect(
      hypercall(hv, 0, b(FN.LDC_COPY), 5n, b(LDC_COPY_OUT), b(cookie), b(dst), 100n).status,
    ).toBe(HV.EOK);
    expect(hv.memory.content[g.paPageOf(BUF)]).toBe(43);
    expect(hypercall(hv, 0, b(FN.LDC_COPY), 6n, 0n, b(cookie), b(dst), 100n).status).toBe(
      HV.ECHANNEL,
    );
    expect(hypercall(hv, 0, b(FN.LDC_COPY), 5n, 2n, b(cookie), b(dst), 100n).status).toBe(
      HV.EINVAL,
    );
    expect(hypercall(hv, 0, b(FN.LDC_COPY), 5n, 0n, b(cookie), b(dst), b(P + 1)).status).toBe(
      HV.EINVAL,
    );
    // A channel id above 31 bits is no channel, not channel 5.
    expect(
      hypercall(hv, 0, b(FN.LDC_COPY), (1n << 31n) | 5n, 0n, b(cookie), b(dst), 8n).status,
    ).toBe(HV.ECHANNEL);
  });

  test("dvma_grant, dvma_revoke, dvma_info: guest, devhandle, base, count", () => {
    const { hv, io } = setup();
    const base = b(WINDOW_BASE + 10 * P);
    expect(hypercall(hv, 0, b(FN.DVMA_GRANT), 2n, b(DH), base, 4n)).toEqual({
      status: HV.EOK,
      ret1: 4n,
      ret2: 0n,
    });
    expect([...io.entryOwner.slice(9, 15)]).toEqual([-1, 2, 2, 2, 2, -1]);
    expect(hypercall(hv, 0, b(FN.DVMA_INFO), b(DH), base + b(P))).toEqual({
      status: HV.EOK,
      ret1: 2n,
      ret2: 3n,
    });
    expect(hypercall(hv, 0, b(FN.DVMA_INFO), b(DH), b(WINDOW_BASE + 20 * P))).toEqual({
      status: HV.EOK,
      ret1: TOP - 1n, // -1 (free) as a 64-bit register
      ret2: 44n,
    });
    expect(hypercall(hv, 0, b(FN.DVMA_REVOKE), 2n, b(DH), base, 2n)).toEqual({
      status: HV.EOK,
      ret1: 2n,
      ret2: 0n,
    });
    expect([...io.entryOwner.slice(9, 15)]).toEqual([-1, -1, -1, 2, 2, -1]);
    expect(hypercall(hv, 0, b(FN.DVMA_REVOKE), 1n, b(DH), base + 2n * b(P), 2n).status).toBe(
      HV.ENOMAP,
    );
    expect(hypercall(hv, 0, b(FN.DVMA_GRANT), 1n << 15n, b(DH), base, 1n).status).toBe(HV.EINVAL);
    expect(hypercall(hv, 1, b(FN.DVMA_INFO), b(DH), base).status).toBe(HV.ENOACCESS);
  });
});

describe("raw ABI: traps not served", () => {
  test("bypass and the ATU group are known and not supported; anything else is a bad trap", () => {
    const { hv, fns, cost } = setup();
    const cases: [bigint, number, string][] = [
      [0xb3n, HV.ENOTSUPPORTED, "pci_iommu_getbypass"],
      [0x18fn, HV.EBADTRAP, "0x18f"],
      [0x190n, HV.ENOTSUPPORTED, "0x190"],
      [0x195n, HV.ENOTSUPPORTED, "0x195"],
      [0x19an, HV.ENOTSUPPORTED, "0x19a"],
      [0x19bn, HV.EBADTRAP, "0x19b"],
      [0n, HV.EBADTRAP, "0x0"],
      [0xffffn, HV.EBADTRAP, "0xffff"],
      [0x10000n, HV.EBADTRAP, "0x-1"], // wider than any function number
      [b(FN.PCI_IOMMU_MAP) + (1n << 32n), HV.EBADTRAP, "0x-1"],
      [-1n, HV.EBADTRAP, "0x-1"],
    ];
    for (const [fn, status, name] of cases) {
      hv.ret1 = 5;
      hv.ret2 = 6;
      const calls = hv.hcalls[1]!;
      expect(hypercall(hv, 1, fn, 1n, 2n, 3n, 4n, 5n)).toEqual({ status, ret1: 0n, ret2: 0n });
      expect(hv.lastCostNs).toBe(cost.hcallTrapNs);
      expect(hv.hcalls[1]).toBe(calls + 1);
      expect(fns.at(-1)).toBe(name);
    }
  });
});
