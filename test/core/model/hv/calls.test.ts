/**
 * Every IOMMU service and extension call, pinned: status (and which refusal wins when several
 * apply), ret1/ret2, cost, hypercall count, events, and the state it changes or leaves alone.
 * Fast on purpose: a mutation run executes these for each mutant of core/model/hv.
 */
import { describe, expect, test } from "bun:test";
import { SYNC_FOR_CPU, SYNC_FOR_DEVICE } from "../../../../core/model/hv/functions.ts";
import { type Hypervisor, RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import {
  IO_ATTR_READ,
  IO_ATTR_RELAXED_ORDER,
  IO_ATTR_WRITE,
  TTE_VALID,
} from "../../../../core/model/iommu/iotsb.ts";
import {
  recordedHv,
  type smallMachine,
  WINDOW_BASE,
  writeList,
} from "../../../helpers/small-machine.ts";

const RW = IO_ATTR_READ | IO_ATTR_WRITE;
const DH = 0x200;
const P = 8192;
const LIST = RA_BASE;
const BUF = RA_BASE + 16 * P;
/** One byte past each guest's 8 MiB of memory. */
const MEM_END = RA_BASE + 8 * 1024 * 1024;

/** A snapshot of everything a refused call must leave alone. */
function state(hv: Hypervisor) {
  const io = hv.iommus.get(DH)!;
  return {
    owner: [...io.entryOwner],
    attr: [...io.iotsb.attr],
    pa: [...io.iotsb.pa],
    valid: io.iotsb.valid,
    owned: io.ownedEntries,
    tlb: io.iotlb.cachedIndices(),
    remaps: [...hv.remaps],
    flushOps: hv.flushOps,
  };
}

/** g1 owns entries 0..7 and has mapped 0..2; g2 owns 8..63. */
function mapped(opts: Parameters<typeof smallMachine>[0] = {}) {
  const s = recordedHv(opts);
  expect(s.hv.dvmaGrant(0, 1, DH, WINDOW_BASE, 8)).toBe(HV.EOK);
  expect(s.hv.dvmaGrant(0, 2, DH, WINDOW_BASE + 8 * P, 56)).toBe(HV.EOK);
  writeList(s.hv, 1, LIST, [BUF, BUF + P, BUF + 2 * P]);
  expect(s.hv.iommuMap(1, DH, 0, 0, 3, RW, LIST)).toBe(HV.EOK);
  s.events.length = 0;
  return s;
}

describe("pci_iommu_map", () => {
  test("maps the listed pages: TTEs, ret1, cost, hcall and iommu.map events, no remap", () => {
    const { hv, io, cost, events } = recordedHv();
    hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 2 * P, 4);
    events.length = 0;
    const calls = hv.hcalls[1]!;
    writeList(hv, 1, LIST + 16, [BUF + 5 * P, BUF]);
    expect(hv.iommuMap(1, DH, 0, 3, 2, IO_ATTR_WRITE | IO_ATTR_RELAXED_ORDER, LIST + 16)).toBe(
      HV.EOK,
    );
    const mem = hv.domains[1]!.mem;
    expect([io.iotsb.pa[3], io.iotsb.pa[4]]).toEqual([
      mem.paPageOf(BUF + 5 * P),
      mem.paPageOf(BUF),
    ]);
    expect(io.iotsb.attr[3]).toBe(IO_ATTR_WRITE | IO_ATTR_RELAXED_ORDER | TTE_VALID);
    expect(io.iotsb.valid).toBe(2);
    expect([hv.ret1, hv.ret2]).toEqual([2, 0]);
    expect(hv.lastCostNs).toBe(cost.hcallTrapNs + 2 * cost.tteWriteNs);
    expect(hv.hcalls[1]).toBe(calls + 1);
    expect(hv.remaps).toEqual([0, 0, 0]);
    expect(hv.flushOps).toBe(0);
    expect(events).toEqual([
      {
        type: "hcall",
        domain: 1,
        fn: "pci_iommu_map",
        status: HV.EOK,
        count: 2,
        durNs: cost.hcallTrapNs + 2 * cost.tteWriteNs,
      },
      { type: "iommu.map", domain: 1, devhandle: DH, index: 3, npages: 2 },
    ]);
  });

  test("mapping over a valid entry counts a remap per entry and replaces the TTE", () => {
    const { hv, io } = mapped();
    writeList(hv, 1, LIST + 64, [BUF + 9 * P, BUF + 10 * P]);
    expect(hv.iommuMap(1, DH, 0, 2, 2, RW, LIST + 64)).toBe(HV.EOK); // entry 2 was valid, 3 not
    expect(hv.remaps).toEqual([0, 1, 0]);
    expect(io.iotsb.pa[2]).toBe(hv.domains[1]!.mem.paPageOf(BUF + 9 * P));
    expect(io.iotsb.valid).toBe(4);
  });

  test("maps at most maxTtesPerCall; a whole range up to another guest's entries is fine", () => {
    const { hv, io, cost } = mapped({ maxTtesPerCall: 5 });
    writeList(
      hv,
      1,
      LIST,
      Array.from({ length: 8 }, (_, k) => BUF + k * P),
    );
    expect(hv.iommuMap(1, DH, 0, 0, 8, RW, LIST)).toBe(HV.EOK);
    expect(hv.ret1).toBe(5);
    expect(hv.lastCostNs).toBe(cost.hcallTrapNs + 5 * cost.tteWriteNs);
    expect(io.iotsb.isValid(5)).toBe(false);
    expect(hv.iommuMap(1, DH, 0, 5, 3, RW, LIST + 5 * 8)).toBe(HV.EOK); // ends where g2's begin
    expect(hv.ret1).toBe(3);
    expect(io.iotsb.valid).toBe(8);
  });

  test("the last entry of the window maps; one past it is refused", () => {
    const { hv } = mapped();
    writeList(hv, 2, LIST, [BUF, BUF]);
    expect(hv.iommuMap(2, DH, 0, 63, 1, RW, LIST)).toBe(HV.EOK);
    expect(hv.iommuMap(2, DH, 0, 62, 2, RW, LIST)).toBe(HV.EOK);
    expect(hv.iommuMap(2, DH, 0, 63, 2, RW, LIST)).toBe(HV.EINVAL);
    expect(hv.iommuMap(2, DH, 0, 64, 1, RW, LIST)).toBe(HV.EINVAL);
  });

  test("every refusal: its status, ret1 0, the trap cost only, nothing changed", () => {
    const { hv, cost, events } = mapped();
    writeList(hv, 1, LIST + P, [BUF, MEM_END]);
    writeList(hv, 1, LIST + 2 * P, [BUF, BUF, BUF + 1]);
    const before = state(hv);
    const cases: [string, number, () => number][] = [
      ["no such caller", HV.ENOACCESS, () => hv.iommuMap(9, DH, 0, 0, 1, RW, LIST)],
      ["unknown devhandle", HV.EINVAL, () => hv.iommuMap(1, 0x999, 0, 0, 1, RW, LIST)],
      ["tsbnum 1", HV.EINVAL, () => hv.iommuMap(1, DH, 1, 0, 1, RW, LIST)],
      ["index -1", HV.EINVAL, () => hv.iommuMap(1, DH, 0, -1, 1, RW, LIST)],
      ["index past the window", HV.EINVAL, () => hv.iommuMap(1, DH, 0, 64, 1, RW, LIST)],
      ["no entries", HV.EINVAL, () => hv.iommuMap(1, DH, 0, 0, 0, RW, LIST)],
      ["NaN entries", HV.EINVAL, () => hv.iommuMap(1, DH, 0, 0, Number.NaN, RW, LIST)],
      ["range leaves the window", HV.EINVAL, () => hv.iommuMap(1, DH, 0, 0, 65, RW, LIST)],
      ["no access bits", HV.EINVAL, () => hv.iommuMap(1, DH, 0, 0, 1, 0, LIST)],
      ["relaxed order only", HV.EINVAL, () => hv.iommuMap(1, DH, 0, 0, 1, 4, LIST)],
      ["the valid bit", HV.EINVAL, () => hv.iommuMap(1, DH, 0, 0, 1, TTE_VALID | RW, LIST)],
      ["bit 3", HV.EINVAL, () => hv.iommuMap(1, DH, 0, 0, 1, 8 | RW, LIST)],
      ["list not 8-aligned", HV.EBADALIGN, () => hv.iommuMap(1, DH, 0, 0, 1, RW, LIST + 4)],
      ["another guest's entry", HV.ENOACCESS, () => hv.iommuMap(1, DH, 0, 8, 1, RW, LIST)],
      ["range runs into g2's", HV.ENOACCESS, () => hv.iommuMap(1, DH, 0, 7, 2, RW, LIST)],
      ["list outside memory", HV.ENORADDR, () => hv.iommuMap(1, DH, 0, 0, 1, RW, MEM_END)],
      ["list runs off memory", HV.ENORADDR, () => hv.iommuMap(1, DH, 0, 0, 2, RW, MEM_END - 8)],
      ["list below memory", HV.ENORADDR, () => hv.iommuMap(1, DH, 0, 0, 1, RW, RA_BASE - 8)],
      ["2nd RA not its memory", HV.ENORADDR, () => hv.iommuMap(1, DH, 0, 0, 2, RW, LIST + P)],
      ["3rd RA unaligned", HV.EBADALIGN, () => hv.iommuMap(1, DH, 0, 0, 3, RW, LIST + 2 * P)],
      ["unwritten list (RA 0)", HV.ENORADDR, () => hv.iommuMap(1, DH, 0, 0, 1, RW, LIST + 3 * P)],
    ];
    for (const [what, status, call] of cases) {
      events.length = 0;
      const calls = hv.hcalls[1]!;
      const r = call();
      if (r !== status) throw new Error(`${what}: ${r}, expected ${status}`);
      expect([hv.ret1, hv.ret2]).toEqual([0, 0]);
      expect(hv.lastCostNs).toBe(cost.hcallTrapNs);
      expect(events.map((e) => [e.type, e.status, e.count])).toEqual([["hcall", status, 0]]);
      expect(state(hv)).toEqual(before);
      if (what !== "no such caller") expect(hv.hcalls[1]).toBe(calls + 1);
    }
  });

  test("which refusal wins: caller, then window and tsbnum, then attributes, then alignment", () => {
    const { hv } = mapped();
    expect(hv.iommuMap(9, DH, 0, 0, 1, 0, LIST)).toBe(HV.ENOACCESS);
    expect(hv.iommuMap(9, DH, 0, 0, 1, RW, LIST + 4)).toBe(HV.ENOACCESS);
    expect(hv.iommuMap(9, DH, 1, 0, 1, RW, LIST)).toBe(HV.ENOACCESS);
    expect(hv.iommuMap(1, DH, 0, 0, 0, 0, LIST + 4)).toBe(HV.EINVAL);
    expect(hv.iommuMap(1, DH, 0, 0, 65, RW, LIST + 4)).toBe(HV.EINVAL);
    expect(hv.iommuMap(1, DH, 1, 0, 1, RW, LIST + 4)).toBe(HV.EINVAL);
    expect(hv.iommuMap(1, DH, 0, 0, 1, 0, LIST + 4)).toBe(HV.EINVAL);
    expect(hv.iommuMap(1, DH, 0, 8, 1, RW, LIST + 4)).toBe(HV.EBADALIGN); // before ownership
    writeList(hv, 1, LIST + P, [BUF + 1]);
    expect(hv.iommuMap(1, DH, 0, 8, 1, RW, MEM_END)).toBe(HV.ENOACCESS); // ownership before the list
    expect(hv.iommuMap(1, DH, 0, 0, 1, RW, LIST + P)).toBe(HV.EBADALIGN);
  });

  test("a dead guest's map is refused and changes nothing", () => {
    const { hv, io } = mapped();
    hv.killDomain(1, "test");
    const before = state(hv);
    expect(hv.iommuMap(1, DH, 0, 3, 1, RW, LIST)).toBe(HV.ENOACCESS);
    expect(state(hv)).toEqual(before);
    expect(io.iotsb.valid).toBe(0);
  });
});

describe("pci_iommu_demap", () => {
  test("clears and flushes: ret1, cost, events, flushOps, the IOTLB", () => {
    const { hv, io, cost, events } = mapped();
    hv.deviceDma(0, WINDOW_BASE + P, 8, true, 1);
    expect(io.iotlb.holds(1)).toBe(true);
    events.length = 0;
    expect(hv.iommuDemap(1, DH, 0, 1, 2)).toBe(HV.EOK);
    expect([hv.ret1, hv.ret2]).toEqual([2, 0]);
    const dur = cost.hcallTrapNs + 2 * cost.tteWriteNs + cost.iotlbFlushNs;
    expect(hv.lastCostNs).toBe(dur);
    expect([io.iotsb.isValid(0), io.iotsb.isValid(1), io.iotsb.isValid(2)]).toEqual([
      true,
      false,
      false,
    ]);
    expect(io.iotlb.holds(1)).toBe(false);
    expect(hv.flushOps).toBe(1);
    expect(io.entryOwner[1]).toBe(1); // demap leaves ownership alone
    expect(events).toEqual([
      { type: "iotlb.flush", devhandle: DH, entries: 2 },
      { type: "hcall", domain: 1, fn: "pci_iommu_demap", status: HV.EOK, count: 2, durNs: dur },
      { type: "iommu.demap", domain: 1, devhandle: DH, index: 1, npages: 2 },
    ]);
  });

  test("demaps at most maxTtesPerCall; entries that were not valid count too", () => {
    const { hv, io } = mapped({ maxTtesPerCall: 2 });
    expect(hv.iommuMap(1, DH, 0, 2, 1, RW, LIST + 16)).toBe(HV.EOK); // mapped() got 2 of its 3
    expect(io.iotsb.valid).toBe(3);
    expect(hv.iommuDemap(1, DH, 0, 0, 8)).toBe(HV.EOK);
    expect(hv.ret1).toBe(2);
    expect(io.iotsb.valid).toBe(1);
    expect(hv.iommuDemap(1, DH, 0, 6, 2)).toBe(HV.EOK); // never mapped, up to g2's first entry
    expect(hv.ret1).toBe(2);
    expect(hv.flushOps).toBe(2);
  });

  test("refusals: status, no count, trap cost only, no flush, nothing changed", () => {
    const { hv, cost } = mapped();
    const before = state(hv);
    const cases: [number, () => number][] = [
      [HV.ENOACCESS, () => hv.iommuDemap(9, DH, 0, 0, 1)],
      [HV.EINVAL, () => hv.iommuDemap(1, 0x999, 0, 0, 1)],
      [HV.EINVAL, () => hv.iommuDemap(1, DH, 1, 0, 1)],
      [HV.EINVAL, () => hv.iommuDemap(1, DH, 0, -1, 1)],
      [HV.EINVAL, () => hv.iommuDemap(1, DH, 0, 64, 1)],
      [HV.EINVAL, () => hv.iommuDemap(1, DH, 0, 0, 0)],
      [HV.EINVAL, () => hv.iommuDemap(1, DH, 0, 0, 65)],
      [HV.ENOACCESS, () => hv.iommuDemap(2, DH, 0, 0, 3)],
      [HV.ENOACCESS, () => hv.iommuDemap(1, DH, 0, 7, 2)],
    ];
    for (const [status, call] of cases) {
      expect(call()).toBe(status);
      expect(hv.ret1).toBe(0);
      expect(hv.lastCostNs).toBe(cost.hcallTrapNs);
      expect(state(hv)).toEqual(before);
    }
  });
});

describe("pci_iommu_getmap", () => {
  test("ret1 = the attribute bits (no valid bit), ret2 = the caller's RA; counted, no work", () => {
    const { hv, cost, events } = mapped();
    writeList(hv, 1, LIST + 64, [BUF + 7 * P]);
    hv.iommuMap(1, DH, 0, 4, 1, IO_ATTR_READ | IO_ATTR_RELAXED_ORDER, LIST + 64);
    events.length = 0;
    const calls = hv.hcalls[1]!;
    expect(hv.iommuGetmap(1, DH, 0, 4)).toBe(HV.EOK);
    expect([hv.ret1, hv.ret2]).toEqual([IO_ATTR_READ | IO_ATTR_RELAXED_ORDER, BUF + 7 * P]);
    expect(hv.lastCostNs).toBe(cost.hcallTrapNs);
    expect(hv.hcalls[1]).toBe(calls + 1);
    expect(events).toEqual([
      {
        type: "hcall",
        domain: 1,
        fn: "pci_iommu_getmap",
        status: HV.EOK,
        count: 0,
        durNs: cost.hcallTrapNs,
      },
    ]);
  });

  test("refusals zero ret1 and ret2: not its entry, not mapped, bad index, tsbnum, caller", () => {
    const { hv } = mapped();
    const cases: [number, () => number][] = [
      [HV.ENOACCESS, () => hv.iommuGetmap(2, DH, 0, 0)],
      [HV.ENOMAP, () => hv.iommuGetmap(1, DH, 0, 3)],
      [HV.EINVAL, () => hv.iommuGetmap(1, DH, 0, 64)],
      [HV.EINVAL, () => hv.iommuGetmap(1, DH, 0, -1)],
      [HV.EINVAL, () => hv.iommuGetmap(1, DH, 1, 0)],
      [HV.EINVAL, () => hv.iommuGetmap(1, 0x999, 0, 0)],
      [HV.ENOACCESS, () => hv.iommuGetmap(9, DH, 0, 0)],
    ];
    for (const [status, call] of cases) {
      hv.iommuGetmap(1, DH, 0, 1); // leaves ret1/ret2 set
      expect(call()).toBe(status);
      expect([hv.ret1, hv.ret2]).toEqual([0, 0]);
    }
    expect(hv.iommuGetmap(2, DH, 0, 63)).toBe(HV.ENOMAP); // its own entry, the window's last
  });
});

describe("pci_dma_sync", () => {
  test("both directions: ret1 = size, trap cost only; refusals and their order", () => {
    const { hv, cost } = mapped();
    for (const dir of [SYNC_FOR_DEVICE, SYNC_FOR_CPU]) {
      expect(hv.dmaSync(1, DH, BUF, 100, dir)).toBe(HV.EOK);
      expect([hv.ret1, hv.ret2]).toEqual([100, 0]);
      expect(hv.lastCostNs).toBe(cost.hcallTrapNs);
    }
    expect(hv.dmaSync(1, DH, MEM_END - 8, 8, SYNC_FOR_CPU)).toBe(HV.EOK);
    expect(hv.dmaSync(1, DH, MEM_END - 8, 9, SYNC_FOR_CPU)).toBe(HV.ENORADDR);
    expect(hv.ret1).toBe(0);
    expect(hv.dmaSync(1, DH, BUF, 8, 0)).toBe(HV.EINVAL);
    expect(hv.dmaSync(1, DH, BUF, 8, 3)).toBe(HV.EINVAL);
    expect(hv.dmaSync(1, 0x999, BUF, 8, SYNC_FOR_CPU)).toBe(HV.EINVAL);
    expect(hv.dmaSync(1, DH, BUF, 0, SYNC_FOR_CPU)).toBe(HV.EINVAL);
    expect(hv.dmaSync(1, DH, BUF, -8, SYNC_FOR_CPU)).toBe(HV.EINVAL);
    expect(hv.dmaSync(1, DH, MEM_END, 0, SYNC_FOR_CPU)).toBe(HV.EINVAL); // size before memory
    expect(hv.dmaSync(1, 0x999, MEM_END, 8, 0)).toBe(HV.EINVAL); // devhandle before memory
    expect(hv.dmaSync(9, 0x999, BUF, 0, 0)).toBe(HV.ENOACCESS); // caller first
    hv.killDomain(2, "test");
    expect(hv.dmaSync(2, DH, BUF, 8, SYNC_FOR_CPU)).toBe(HV.ENOACCESS);
    expect(hv.dmaSync(0, DH, BUF, 8, SYNC_FOR_CPU)).toBe(HV.EOK); // the control domain too
  });
});

describe("dvma_grant", () => {
  test("at the window's first entry: EOK (not -0), ownership, count, ret1, event, trap cost", () => {
    const { hv, io, cost, events } = recordedHv();
    const status = hv.dvmaGrant(0, 2, DH, WINDOW_BASE, 3);
    expect(Object.is(status, HV.EOK)).toBe(true);
    expect([...io.entryOwner.slice(0, 4)]).toEqual([2, 2, 2, -1]);
    expect(io.ownedEntries).toBe(3);
    expect([hv.ret1, hv.ret2]).toEqual([3, 0]);
    expect(hv.lastCostNs).toBe(cost.hcallTrapNs);
    expect(hv.hcalls[0]).toBe(1);
    expect(events).toEqual([
      { type: "dvma.grant", domain: 2, devhandle: DH, base: WINDOW_BASE, npages: 3 },
      {
        type: "hcall",
        domain: 0,
        fn: "dvma_grant",
        status: HV.EOK,
        count: 3,
        durNs: cost.hcallTrapNs,
      },
    ]);
  });

  test("away from entry 0 and up to the window's end; grants add up", () => {
    const { hv, io } = recordedHv();
    expect(hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 60 * P, 4)).toBe(HV.EOK);
    expect([...io.entryOwner.slice(58)]).toEqual([-1, -1, 1, 1, 1, 1]);
    expect(hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 10 * P, 2)).toBe(HV.EOK);
    expect(io.ownedEntries).toBe(6);
    expect([io.entryOwner[9], io.entryOwner[10], io.entryOwner[11], io.entryOwner[12]]).toEqual([
      -1, 1, 1, -1,
    ]);
  });

  test("refusals: status, ret1 0, nothing changed, no event", () => {
    const { hv, events } = recordedHv();
    hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 4 * P, 2);
    hv.killDomain(2, "test");
    events.length = 0;
    const before = state(hv);
    const cases: [number, () => number][] = [
      [HV.ENOACCESS, () => hv.dvmaGrant(1, 1, DH, WINDOW_BASE, 1)],
      [HV.ENOACCESS, () => hv.dvmaGrant(9, 1, DH, WINDOW_BASE, 1)],
      [HV.EINVAL, () => hv.dvmaGrant(0, 2, DH, WINDOW_BASE, 1)], // dead guest
      [HV.EINVAL, () => hv.dvmaGrant(0, 9, DH, WINDOW_BASE, 1)], // no such guest
      [HV.EINVAL, () => hv.dvmaGrant(0, 1, 0x999, WINDOW_BASE, 1)],
      [HV.EBADALIGN, () => hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 8, 1)],
      [HV.EINVAL, () => hv.dvmaGrant(0, 1, DH, WINDOW_BASE - P, 1)],
      [HV.EINVAL, () => hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 63 * P, 2)],
      [HV.EINVAL, () => hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 64 * P, 1)],
      [HV.EINVAL, () => hv.dvmaGrant(0, 1, DH, WINDOW_BASE, 0)],
      [HV.EINVAL, () => hv.dvmaGrant(0, 1, DH, WINDOW_BASE, Number.NaN)],
      [HV.EBUSY, () => hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 5 * P, 1)], // already its own
      [HV.EBUSY, () => hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 3 * P, 2)],
    ];
    for (const [status, call] of cases) {
      expect(call()).toBe(status);
      expect([hv.ret1, hv.ret2]).toEqual([0, 0]);
      expect(state(hv)).toEqual(before);
    }
    expect(events.filter((e) => e.type !== "hcall")).toEqual([]);
    // Which refusal wins: caller, then target and devhandle, then alignment, then the range.
    expect(hv.dvmaGrant(1, 9, 0x999, WINDOW_BASE + 8, 0)).toBe(HV.ENOACCESS);
    expect(hv.dvmaGrant(0, 9, DH, WINDOW_BASE + 8, 0)).toBe(HV.EINVAL);
    expect(hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 8, 0)).toBe(HV.EBADALIGN);
    expect(hv.dvmaGrant(0, 1, DH, WINDOW_BASE - 8, 1)).toBe(HV.EBADALIGN);
  });
});

describe("dvma_revoke", () => {
  test("demaps, flushes, frees: ret1, cost, events, state", () => {
    const { hv, io, cost, events } = mapped();
    hv.deviceDma(0, WINDOW_BASE, 8, true, 1);
    events.length = 0;
    expect(hv.dvmaRevoke(0, 1, DH, WINDOW_BASE, 8)).toBe(HV.EOK);
    const dur = cost.hcallTrapNs + 8 * cost.tteWriteNs + cost.iotlbFlushNs;
    expect([hv.ret1, hv.ret2, hv.lastCostNs]).toEqual([8, 0, dur]);
    expect([...io.entryOwner.slice(0, 9)]).toEqual([-1, -1, -1, -1, -1, -1, -1, -1, 2]);
    expect([io.ownedEntries, io.iotsb.valid, hv.flushOps]).toEqual([56, 0, 1]);
    expect(io.iotlb.cachedIndices()).toEqual([]);
    expect(events).toEqual([
      { type: "iotlb.flush", devhandle: DH, entries: 8 },
      {
        type: "dvma.release",
        domain: 1,
        devhandle: DH,
        base: WINDOW_BASE,
        npages: 8,
        reason: "revoke",
      },
      { type: "hcall", domain: 0, fn: "dvma_revoke", status: HV.EOK, count: 8, durNs: dur },
    ]);
  });

  test("part of a grant, from a dead guest too; refusals change nothing", () => {
    const { hv, io, cost } = mapped();
    expect(hv.dvmaRevoke(0, 2, DH, WINDOW_BASE + 62 * P, 2)).toBe(HV.EOK);
    expect(io.ownedEntries).toBe(62);
    hv.killDomain(1, "test");
    expect(hv.dvmaRevoke(0, 1, DH, WINDOW_BASE + 6 * P, 2)).toBe(HV.EOK);
    expect(io.entryOwner[5]).toBe(1);
    expect(io.ownedEntries).toBe(60);
    const before = state(hv);
    const cases: [number, () => number][] = [
      [HV.ENOACCESS, () => hv.dvmaRevoke(2, 2, DH, WINDOW_BASE + 8 * P, 1)],
      [HV.EINVAL, () => hv.dvmaRevoke(0, 9, DH, WINDOW_BASE + 8 * P, 1)],
      [HV.EINVAL, () => hv.dvmaRevoke(0, 2, 0x999, WINDOW_BASE + 8 * P, 1)],
      [HV.EBADALIGN, () => hv.dvmaRevoke(0, 2, DH, WINDOW_BASE + 8 * P + 8, 1)],
      [HV.EINVAL, () => hv.dvmaRevoke(0, 2, DH, WINDOW_BASE + 8 * P, 0)],
      [HV.EINVAL, () => hv.dvmaRevoke(0, 2, DH, WINDOW_BASE + 60 * P, 5)],
      [HV.ENOMAP, () => hv.dvmaRevoke(0, 2, DH, WINDOW_BASE + 60 * P, 3)], // 62, 63 are free
      [HV.ENOMAP, () => hv.dvmaRevoke(0, 2, DH, WINDOW_BASE + 4 * P, 5)], // 4..7 are g1's
    ];
    for (const [status, call] of cases) {
      expect(call()).toBe(status);
      expect([hv.ret1, hv.lastCostNs]).toEqual([0, cost.hcallTrapNs]);
      expect(state(hv)).toEqual(before);
    }
  });
});

describe("dvma_info", () => {
  test("owner and run length from any entry, to the window's end; control domain only", () => {
    const { hv, cost } = mapped();
    hv.dvmaRevoke(0, 2, DH, WINDOW_BASE + 60 * P, 4);
    expect(hv.dvmaInfo(0, DH, WINDOW_BASE)).toBe(HV.EOK);
    expect([hv.ret1, hv.ret2, hv.lastCostNs]).toEqual([1, 8, cost.hcallTrapNs]);
    expect(hv.dvmaInfo(0, DH, WINDOW_BASE + 7 * P)).toBe(HV.EOK);
    expect([hv.ret1, hv.ret2]).toEqual([1, 1]);
    expect(hv.dvmaInfo(0, DH, WINDOW_BASE + 8 * P)).toBe(HV.EOK);
    expect([hv.ret1, hv.ret2]).toEqual([2, 52]);
    expect(hv.dvmaInfo(0, DH, WINDOW_BASE + 61 * P)).toBe(HV.EOK);
    expect([hv.ret1, hv.ret2]).toEqual([-1, 3]);
    expect(hv.dvmaInfo(0, DH, WINDOW_BASE + 63 * P)).toBe(HV.EOK);
    expect([hv.ret1, hv.ret2]).toEqual([-1, 1]);
    for (const [status, call] of [
      [HV.EINVAL, () => hv.dvmaInfo(0, DH, WINDOW_BASE + 64 * P)],
      [HV.EINVAL, () => hv.dvmaInfo(0, DH, WINDOW_BASE - P)],
      [HV.EINVAL, () => hv.dvmaInfo(0, 0x999, WINDOW_BASE)],
      [HV.EBADALIGN, () => hv.dvmaInfo(0, DH, WINDOW_BASE + 4)],
      [HV.ENOACCESS, () => hv.dvmaInfo(1, DH, WINDOW_BASE)],
    ] as const) {
      hv.dvmaInfo(0, DH, WINDOW_BASE);
      expect(call()).toBe(status);
      expect([hv.ret1, hv.ret2]).toEqual([0, 0]);
    }
  });
});
