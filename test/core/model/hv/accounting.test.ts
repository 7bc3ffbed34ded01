/**
 * What each IOMMU and extension call reports besides its status: ret1/ret2, its cost, its events,
 * and which refusal wins when several apply. (Written against the mutants these left alive.)
 */
import { describe, expect, test } from "bun:test";
import { EventBus } from "../../../../core/model/events/bus.ts";
import { SYNC_FOR_CPU } from "../../../../core/model/hv/functions.ts";
import { Hypervisor, RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { IO_ATTR_READ, IO_ATTR_WRITE } from "../../../../core/model/iommu/iotsb.ts";
import { parseCostModel } from "../../../../core/model/machine/parse.ts";
import { smallMachine, WINDOW_BASE, writeList } from "../../../helpers/small-machine.ts";

const RW = IO_ATTR_READ | IO_ATTR_WRITE;
const DH = 0x200;
const LIST = RA_BASE;
const BUF = RA_BASE + 16 * 8192;
const P = 8192;

function hvWithEvents() {
  const bus = new EventBus(() => 0);
  const events: [string, unknown][] = [];
  for (const kind of ["dvma.grant", "dvma.release", "iotlb.flush"] as const)
    bus.on(kind, (e) => {
      const { t: _t, type: _type, ...rest } = e as unknown as Record<string, unknown>;
      events.push([kind, rest]);
    });
  const cost = parseCostModel({});
  const hv = new Hypervisor(smallMachine({ windowPages: 64 }), cost, bus);
  return { hv, events, cost };
}

describe("extension calls: results, cost, events", () => {
  test("dvma_grant: ret1 = npages and a dvma.grant event; a refused grant: ret1 0, no event", () => {
    const { hv, events } = hvWithEvents();
    expect(hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 4 * P, 3)).toBe(HV.EOK);
    expect(hv.ret1).toBe(3);
    expect(events).toEqual([
      ["dvma.grant", { domain: 1, devhandle: DH, base: WINDOW_BASE + 4 * P, npages: 3 }],
    ]);
    expect(hv.dvmaGrant(0, 2, DH, WINDOW_BASE + 5 * P, 1)).toBe(HV.EBUSY);
    expect(hv.ret1).toBe(0);
    expect(events).toHaveLength(1);
    expect(hv.dvmaGrant(0, 2, DH, WINDOW_BASE, 0)).toBe(HV.EINVAL); // no pages is no grant
    expect(hv.dvmaGrant(99, 2, DH, WINDOW_BASE, 1)).toBe(HV.ENOACCESS); // no such caller
  });

  test("dvma_revoke away from entry 0: ret1, demap + flush cost, dvma.release and iotlb.flush events", () => {
    const { hv, events, cost } = hvWithEvents();
    hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 4 * P, 3);
    events.length = 0;
    expect(hv.dvmaRevoke(0, 1, DH, WINDOW_BASE + 4 * P, 3)).toBe(HV.EOK);
    expect(hv.ret1).toBe(3);
    expect(hv.lastCostNs).toBe(cost.hcallTrapNs + 3 * cost.tteWriteNs + cost.iotlbFlushNs);
    expect(events).toEqual([
      ["iotlb.flush", { devhandle: DH, entries: 3 }],
      [
        "dvma.release",
        { domain: 1, devhandle: DH, base: WINDOW_BASE + 4 * P, npages: 3, reason: "revoke" },
      ],
    ]);
    expect(hv.flushOps).toBe(1);
    expect(hv.dvmaRevoke(0, 1, DH, WINDOW_BASE + 4 * P, 3)).toBe(HV.ENOMAP);
    expect(hv.ret1).toBe(0);
    expect(hv.lastCostNs).toBe(cost.hcallTrapNs);
  });

  test("dvma_info: owner and run length from any entry; a refused call leaves ret1 = ret2 = 0", () => {
    const { hv } = hvWithEvents();
    hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 4 * P, 3);
    expect(hv.dvmaInfo(0, DH, WINDOW_BASE + 5 * P)).toBe(HV.EOK);
    expect([hv.ret1, hv.ret2]).toEqual([1, 2]);
    expect(hv.dvmaInfo(0, DH, WINDOW_BASE + 7 * P)).toBe(HV.EOK);
    expect([hv.ret1, hv.ret2]).toEqual([-1, 64 - 7]);
    expect(hv.dvmaInfo(0, DH, WINDOW_BASE + 3)).toBe(HV.EBADALIGN);
    expect([hv.ret1, hv.ret2]).toEqual([0, 0]);
  });
});

describe("IOMMU services: results, cost, which refusal wins", () => {
  function mapped() {
    const { hv, events, cost } = hvWithEvents();
    hv.dvmaGrant(0, 1, DH, WINDOW_BASE, 8);
    hv.dvmaGrant(0, 2, DH, WINDOW_BASE + 8 * P, 56);
    writeList(hv, 1, LIST, [BUF, BUF + P, BUF + 2 * P]);
    expect(hv.iommuMap(1, DH, 0, 0, 3, RW, LIST)).toBe(HV.EOK);
    events.length = 0;
    return { hv, events, cost };
  }

  test("map costs its TTE writes; demap its writes and one flush, with an iotlb.flush event", () => {
    const { hv, events, cost } = mapped();
    writeList(hv, 2, LIST, [BUF]);
    expect(hv.iommuMap(2, DH, 0, 63, 1, RW, LIST)).toBe(HV.EOK); // the window's last entry
    expect(hv.lastCostNs).toBe(cost.hcallTrapNs + cost.tteWriteNs);
    expect(hv.iommuDemap(1, DH, 0, 0, 3)).toBe(HV.EOK);
    expect(hv.ret1).toBe(3);
    expect(hv.lastCostNs).toBe(cost.hcallTrapNs + 3 * cost.tteWriteNs + cost.iotlbFlushNs);
    expect(events).toEqual([["iotlb.flush", { devhandle: DH, entries: 3 }]]);
  });

  test("a guest cannot demap entries it does not own; they stay valid", () => {
    const { hv } = mapped();
    expect(hv.iommuDemap(2, DH, 0, 0, 3)).toBe(HV.ENOACCESS);
    expect(hv.ret1).toBe(0);
    const io = hv.iommus.get(DH)!;
    expect([0, 1, 2].map((i) => io.iotsb.isValid(i))).toEqual([true, true, true]);
  });

  test("refusal order: a bad index or tsbnum before bad attributes or alignment", () => {
    const { hv } = mapped();
    expect(hv.iommuMap(1, DH, 0, -1, 1, RW, LIST)).toBe(HV.EINVAL);
    expect(hv.iommuMap(1, DH, 0, 64, 1, 0xff00, LIST + 1)).toBe(HV.EINVAL);
    expect(hv.iommuMap(99, DH, 0, 0, 1, 0, LIST + 1)).toBe(HV.ENOACCESS);
    expect(hv.iommuMap(1, 0x999, 0, 0, 1, RW, LIST + 1)).toBe(HV.EINVAL);
    expect(hv.iommuMap(1, DH, 0, 0, 1, RW, RA_BASE + 1024 * 1024 * 1024)).toBe(HV.ENORADDR);
    expect(hv.iommuDemap(1, DH, 0, -1, 1)).toBe(HV.EINVAL);
    expect(hv.iommuGetmap(99, DH, 0, 0)).toBe(HV.ENOACCESS);
    expect(hv.iommuGetmap(1, DH, 0, -1)).toBe(HV.EINVAL);
  });

  test("getmap of a mapped entry keeps its results; a refused getmap zeroes them", () => {
    const { hv } = mapped();
    expect(hv.iommuGetmap(1, DH, 0, 1)).toBe(HV.EOK);
    expect(hv.ret2).toBe(BUF + P);
    expect(hv.iommuGetmap(1, DH, 0, 64)).toBe(HV.EINVAL);
    expect([hv.ret1, hv.ret2]).toEqual([0, 0]);
  });

  test("pci_dma_sync: ret1 = size; refused for a dead caller, size 0 or memory it does not have", () => {
    const { hv } = mapped();
    expect(hv.dmaSync(1, DH, BUF, 100, SYNC_FOR_CPU)).toBe(HV.EOK);
    expect(hv.ret1).toBe(100);
    expect(hv.dmaSync(1, DH, BUF, 0, SYNC_FOR_CPU)).toBe(HV.EINVAL);
    expect(hv.ret1).toBe(0);
    expect(hv.dmaSync(1, DH, RA_BASE + 1024 * 1024 * 1024, 8, SYNC_FOR_CPU)).toBe(HV.ENORADDR);
    expect(hv.dmaSync(99, DH, BUF, 8, SYNC_FOR_CPU)).toBe(HV.ENOACCESS);
    hv.killDomain(1, "test");
    expect(hv.dmaSync(1, DH, BUF, 8, SYNC_FOR_CPU)).toBe(HV.ENOACCESS);
  });
});
