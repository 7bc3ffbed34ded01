/**
 * The Hypervisor object itself: how it lays out memory, domains, IOMMUs and devices at boot, its
 * channel registry, device DMA and its fault event, a domain's death, and what every call's end
 * (finish) records. Fast on purpose (a mutation run executes it per mutant).
 */
import { describe, expect, test } from "bun:test";
import { EventBus } from "../../../../core/model/events/bus.ts";
import { FN } from "../../../../core/model/hv/functions.ts";
import { Hypervisor, RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import { LdcChannel } from "../../../../core/model/hv/ldc.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { DmaFault } from "../../../../core/model/iommu/iommu.ts";
import { IO_ATTR_READ, IO_ATTR_WRITE } from "../../../../core/model/iommu/iotsb.ts";
import { OWNER_HV } from "../../../../core/model/machine/memory.ts";
import { parseCostModel, parseMachine } from "../../../../core/model/machine/parse.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";
import {
  recordedHv,
  smallMachine,
  WINDOW_BASE,
  writeList,
} from "../../../helpers/small-machine.ts";

const P = 8192;
const DH = 0x200;
const RW = IO_ATTR_READ | IO_ATTR_WRITE;
const BUF = RA_BASE + 16 * P;

const channel = (id: number, a: number, b: number, bus?: EventBus) =>
  new LdcChannel(
    new Simulator(),
    id,
    a,
    b,
    { queueEntries: 4, latencyNs: 10, lossRate: 0 },
    new Rng(1),
    bus,
  );

/** Two root complexes, a control domain of 16 MiB and guests of 8 and 24 MiB. */
function twoComplexes() {
  return parseMachine({
    rootComplexes: [
      {
        devhandle: 0x200,
        virtualDma: { base: WINDOW_BASE, size: 16 * P },
        isolation: "shared",
        iotlb: { sets: 4, ways: 2 },
      },
      {
        devhandle: 0x300,
        virtualDma: { base: WINDOW_BASE, size: 32 * P },
        isolation: "per-device",
        iotlb: { sets: 8, ways: 1 },
      },
    ],
    domains: [
      { name: "a", memoryMiB: 8, strands: 1 },
      { name: "primary", role: "control", memoryMiB: 16 },
      { name: "b", memoryMiB: 24, strands: 3 },
    ],
    devices: [
      { name: "nb", devhandle: 0x300, requesterId: 0x20, domain: "b" },
      { name: "na", devhandle: 0x200, requesterId: 0x10, domain: "a" },
    ],
    maxTtesPerCall: 7,
  });
}

describe("boot", () => {
  test("physical memory: 64 hypervisor pages, then each domain's pages in order, each at RA_BASE", () => {
    const hv = new Hypervisor(twoComplexes(), parseCostModel({}));
    expect(RA_BASE).toBe(0x1000_0000);
    expect(hv.memory.pages).toBe(64 + 1024 + 2048 + 3072);
    expect(hv.memory.owner[0]).toBe(OWNER_HV);
    expect(hv.memory.owner[63]).toBe(OWNER_HV);
    expect(hv.memory.owner[64]).toBe(0);
    expect(hv.memory.owner[64 + 1024]).toBe(1);
    expect(hv.memory.owner[64 + 1024 + 2048]).toBe(2);
    expect(hv.memory.owner[hv.memory.pages - 1]).toBe(2);
    expect(hv.domains.map((d) => [d.id, d.name, d.role, d.strands, d.alive])).toEqual([
      [0, "a", "guest", 1, true],
      [1, "primary", "control", 4, true], // the control domain's default strands
      [2, "b", "guest", 3, true],
    ]);
    expect(hv.domains.map((d) => [d.mem.paPageOf(RA_BASE), d.mem.bytes])).toEqual([
      [64, 8 << 20],
      [64 + 1024, 16 << 20],
      [64 + 3072, 24 << 20],
    ]);
    expect(hv.control).toBe(hv.domains[1]!);
    expect([hv.hcalls, hv.remaps]).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect([hv.maxTtesPerCall, hv.ret1, hv.ret2, hv.lastCostNs, hv.flushOps]).toEqual([
      7, 0, 0, 0, 0,
    ]);
  });

  test("one IOMMU per root complex as described; each device bound to its domain there", () => {
    const hv = new Hypervisor(twoComplexes(), parseCostModel({ iotlbHitNs: 3, iotlbMissNs: 70 }));
    const a = hv.iommus.get(0x200)!;
    const b = hv.iommus.get(0x300)!;
    expect([a.devhandle, a.windowBase, a.windowPages, a.isolation]).toEqual([
      0x200,
      WINDOW_BASE,
      16,
      "shared",
    ]);
    expect([b.windowPages, b.isolation, b.iotlb.sets, b.iotlb.ways]).toEqual([
      32,
      "per-device",
      8,
      1,
    ]);
    expect([a.iotlb.sets, a.iotlb.ways]).toEqual([4, 2]);
    expect(hv.devices.map((d) => [d.id, d.desc.name, d.domain, d.iommu.devhandle])).toEqual([
      [0, "nb", 2, 0x300],
      [1, "na", 0, 0x200],
    ]);
    expect([b.domainOfRequester(0x20), a.domainOfRequester(0x10)]).toEqual([2, 0]);
    expect([a.domainOfRequester(0x20), b.domainOfRequester(0x10)]).toEqual([-1, -1]);
    // The IOMMU's timing is the cost model's: a miss, then a hit.
    hv.dvmaGrant(1, 2, 0x300, WINDOW_BASE, 1);
    writeList(hv, 2, RA_BASE, [BUF]);
    expect(hv.iommuMap(2, 0x300, 0, 0, 1, RW, RA_BASE)).toBe(HV.EOK);
    expect(hv.deviceDma(0, WINDOW_BASE, 8, true, 1)).toBe(DmaFault.none);
    expect(b.lastCostNs).toBe(70);
    hv.deviceDma(0, WINDOW_BASE, 8, true, 1);
    expect(b.lastCostNs).toBe(3);
  });

  test("domains by name: the first of a name wins; an unknown name throws", () => {
    const md = smallMachine();
    const hv = new Hypervisor(
      { ...md, domains: [...md.domains, { ...md.domains[1]!, name: "g1" }] },
      parseCostModel({}),
    );
    expect(hv.domainId("g1")).toBe(1);
    expect(hv.domainId("primary")).toBe(0);
    expect(hv.domainId("g2")).toBe(2);
    expect(() => hv.domainId("nobody")).toThrow(new RangeError('no domain named "nobody"'));
  });
});

describe("channels", () => {
  test("registered by id, with two empty map tables; a taken id throws; the next free id", () => {
    const { hv } = recordedHv();
    expect(hv.freeChannelId()).toBe(1);
    const c5 = channel(5, 0, 1);
    hv.addChannel(c5);
    hv.addChannel(channel(2, 0, 2));
    expect(hv.channels.map((c) => c.id)).toEqual([5, 2]);
    expect(hv.channel(5)).toBe(c5);
    expect(hv.channel(3)).toBeUndefined();
    expect(hv.freeChannelId()).toBe(6);
    expect(() => hv.addChannel(channel(5, 1, 2))).toThrow(
      new RangeError("LDC channel id 5 is taken"),
    );
    expect(hv.channels).toHaveLength(2);
    const [t0, t1] = hv.mapTables.get(5)!;
    expect([t0.size, t1.size]).toEqual([0, 0]);
    expect(t0).not.toBe(t1);
  });
});

describe("device DMA", () => {
  test("a fault is returned and emitted with the device, domain, faulting DVMA and reason", () => {
    const { hv, events } = recordedHv();
    expect(hv.deviceDma(1, WINDOW_BASE + 3 * P + 5, 8, false, 0)).toBe(DmaFault.noTranslation);
    expect(events).toEqual([
      {
        type: "dma.fault",
        device: "dev2",
        domain: 2,
        devhandle: DH,
        dvma: WINDOW_BASE + 3 * P, // the faulting page
        reason: "no-translation",
      },
    ]);
    events.length = 0;
    hv.dvmaGrant(0, 2, DH, WINDOW_BASE, 1);
    writeList(hv, 2, RA_BASE, [BUF]);
    hv.iommuMap(2, DH, 0, 0, 1, RW, RA_BASE);
    events.length = 0;
    const out = new Uint32Array(1);
    hv.memory.content[hv.domains[2]!.mem.paPageOf(BUF)] = 99;
    expect(hv.deviceDma(1, WINDOW_BASE, 8, false, 0, out)).toBe(DmaFault.none);
    expect(out[0]).toBe(99);
    expect(hv.deviceDma(1, WINDOW_BASE, 8, true, 12)).toBe(DmaFault.none);
    expect(hv.memory.content[hv.domains[2]!.mem.paPageOf(BUF)]).toBe(12);
    expect(events).toEqual([]);
  });

  test("without a bus a fault is still returned", () => {
    const hv = new Hypervisor(smallMachine(), parseCostModel({}));
    expect(hv.deviceDma(0, WINDOW_BASE, 8, true, 1)).toBe(DmaFault.noTranslation);
  });
});

describe("a domain's death", () => {
  function twoMapped() {
    const s = recordedHv();
    const { hv } = s;
    hv.dvmaGrant(0, 1, DH, WINDOW_BASE, 4);
    hv.dvmaGrant(0, 2, DH, WINDOW_BASE + 4 * P, 4);
    for (const g of [1, 2]) {
      writeList(hv, g, RA_BASE, [BUF, BUF + P]);
      expect(hv.iommuMap(g, DH, 0, (g - 1) * 4, 2, RW, RA_BASE)).toBe(HV.EOK);
      expect(hv.deviceDma(g - 1, WINDOW_BASE + (g - 1) * 4 * P, 2 * P, true, g)).toBe(0);
    }
    hv.addChannel(channel(1, 0, 1, hv.bus));
    hv.addChannel(channel(2, 0, 2, hv.bus));
    hv.ldcBind(1, 1, BUF, P, 3);
    hv.ldcBind(2, 2, BUF, P, 3);
    s.events.length = 0;
    return s;
  }

  test("clears and flushes only its TTEs, resets its devices, channels and exports, frees its memory, then tells listeners", () => {
    const { hv, io, events } = twoMapped();
    const told: [number, string, number][] = [];
    hv.onDeath((d, why) => told.push([d, why, io.iotsb.valid]));
    hv.onDeath((d) => told.push([d, "second", 0]));
    const pa = hv.domains[1]!.mem.paPageOf(BUF);
    hv.killDomain(1, "crash");
    expect(hv.domains[1]!.alive).toBe(false);
    expect(told).toEqual([
      [1, "crash", 2],
      [1, "second", 0],
    ]);
    expect([0, 1, 4, 5].map((i) => io.iotsb.isValid(i))).toEqual([false, false, true, true]);
    expect(io.iotlb.cachedIndices().sort()).toEqual([4, 5]);
    expect([...io.entryOwner.slice(0, 8)]).toEqual([1, 1, 1, 1, 2, 2, 2, 2]); // ownership stays
    expect(io.domainOfRequester(0x100)).toBe(-1);
    expect(io.domainOfRequester(0x108)).toBe(2);
    expect(hv.memory.owner[pa]).toBe(-1);
    expect(hv.memory.owner[hv.domains[2]!.mem.paPageOf(BUF)]).toBe(2);
    expect(hv.channel(1)!.isUp).toBe(false);
    expect(hv.channel(2)!.isUp).toBe(true);
    expect(hv.mapTables.get(1)!.map((t) => t.size)).toEqual([0, 0]);
    expect(hv.mapTables.get(2)!.map((t) => t.size)).toEqual([0, 1]);
    expect(events).toEqual([
      { type: "ldc.reset", channel: 1, reason: "endpoint died" },
      { type: "domain.state", domain: 1, name: "g1", state: "dead" },
    ]);
    expect(hv.deviceDma(1, WINDOW_BASE + 4 * P, 8, true, 1)).toBe(DmaFault.none);
  });

  test("a dead, unknown or control domain cannot be killed; without a bus death still works", () => {
    const { hv } = twoMapped();
    hv.killDomain(2, "x");
    expect(() => hv.killDomain(2, "again")).toThrow(new RangeError("cannot kill domain 2"));
    expect(() => hv.killDomain(0, "control")).toThrow(new RangeError("cannot kill domain 0"));
    expect(() => hv.killDomain(7, "none")).toThrow(new RangeError("cannot kill domain 7"));
    expect(hv.domains[0]!.alive).toBe(true);
    const quiet = new Hypervisor(smallMachine(), parseCostModel({}));
    quiet.killDomain(1, "x");
    expect(quiet.domains[1]!.alive).toBe(false);
  });
});

describe("finish: what every call's end records", () => {
  test("ret1 = count and ret2 = 0 unless kept; cost = trap + work; the caller's count; the hcall event", () => {
    const { hv, cost, events } = recordedHv();
    expect(hv.finish(2, FN.DVMA_INFO, HV.EBUSY, 4, 30, DH, 0)).toBe(HV.EBUSY);
    expect([hv.ret1, hv.ret2, hv.lastCostNs]).toEqual([4, 0, cost.hcallTrapNs + 30]);
    expect(hv.hcalls).toEqual([0, 0, 1]);
    hv.ret1 = 8;
    hv.ret2 = 9;
    hv.finish(0, 0x1234, HV.EOK, 4, 0, DH, 0, true);
    expect([hv.ret1, hv.ret2]).toEqual([8, 9]);
    expect(events).toEqual([
      {
        type: "hcall",
        domain: 2,
        fn: "dvma_info",
        status: HV.EBUSY,
        count: 4,
        durNs: cost.hcallTrapNs + 30,
      },
      { type: "hcall", domain: 0, fn: "0x1234", status: HV.EOK, count: 4, durNs: cost.hcallTrapNs },
    ]);
  });

  test("a caller outside the domains is not counted (and no slot is added)", () => {
    const { hv } = recordedHv();
    hv.finish(-1, FN.DVMA_INFO, HV.EOK, 0, 0, DH, 0);
    hv.finish(3, FN.DVMA_INFO, HV.EOK, 0, 0, DH, 0);
    hv.finish(2, FN.DVMA_INFO, HV.EOK, 0, 0, DH, 0);
    expect(hv.hcalls).toEqual([0, 0, 1]);
    expect(Object.keys(hv.hcalls)).toEqual(["0", "1", "2"]); // not even a "-1" property
  });

  test("each event reaches a listener of its own kind (not only a listener of every kind)", () => {
    const bus = new EventBus(() => 0);
    const seen: string[] = [];
    for (const kind of ["hcall", "dma.fault", "domain.state"] as const)
      bus.on(kind, (e) => seen.push(e.type));
    const hv = new Hypervisor(smallMachine(), parseCostModel({}), bus);
    hv.deviceDma(0, WINDOW_BASE, 8, true, 1);
    hv.killDomain(2, "test");
    hv.finish(1, FN.DVMA_INFO, HV.EOK, 0, 0, DH, 0);
    expect(seen).toEqual(["dma.fault", "domain.state", "hcall"]);
  });

  test("iommu.map and iommu.demap events only for EOK calls that did something", () => {
    const { hv, events } = recordedHv();
    hv.finish(1, FN.PCI_IOMMU_MAP, HV.EOK, 0, 0, DH, 3);
    hv.finish(1, FN.PCI_IOMMU_MAP, HV.EINVAL, 2, 0, DH, 3);
    hv.finish(1, FN.PCI_IOMMU_DEMAP, HV.ENOACCESS, 2, 0, DH, 3);
    hv.finish(1, FN.DVMA_GRANT, HV.EOK, 2, 0, DH, 3);
    expect(events.filter((e) => e.type !== "hcall")).toEqual([]);
    hv.finish(1, FN.PCI_IOMMU_MAP, HV.EOK, 1, 0, DH, 3);
    hv.finish(2, FN.PCI_IOMMU_DEMAP, HV.EOK, 2, 0, DH, 5);
    expect(events.filter((e) => e.type !== "hcall")).toEqual([
      { type: "iommu.map", domain: 1, devhandle: DH, index: 3, npages: 1 },
      { type: "iommu.demap", domain: 2, devhandle: DH, index: 5, npages: 2 },
    ]);
  });

  test("only the event kinds someone listens to are built", () => {
    const bus = new EventBus(() => 0);
    const seen: string[] = [];
    bus.on("iommu.demap", (e) => seen.push(e.type));
    const hv = new Hypervisor(smallMachine(), parseCostModel({}), bus);
    hv.finish(1, FN.PCI_IOMMU_MAP, HV.EOK, 1, 0, DH, 3);
    hv.finish(1, FN.PCI_IOMMU_DEMAP, HV.EOK, 1, 0, DH, 3);
    expect(seen).toEqual(["iommu.demap"]);
    const only = new EventBus(() => 0);
    only.on("iommu.map", (e) => seen.push(e.type));
    const hv2 = new Hypervisor(smallMachine(), parseCostModel({}), only);
    hv2.finish(1, FN.PCI_IOMMU_DEMAP, HV.EOK, 1, 0, DH, 3);
    hv2.finish(1, FN.PCI_IOMMU_MAP, HV.EOK, 1, 0, DH, 3);
    expect(seen).toEqual(["iommu.demap", "iommu.map"]);
  });

  test("the refusal of an unserved trap: its status, ret1 = ret2 = 0, trap cost, counted", () => {
    const { hv, cost } = recordedHv();
    hv.ret1 = 3;
    expect(hv.refuse(1, 0x77, HV.EBADTRAP)).toBe(HV.EBADTRAP);
    expect([hv.ret1, hv.ret2, hv.lastCostNs, hv.hcalls[1]]).toEqual([0, 0, cost.hcallTrapNs, 1]);
  });
});
