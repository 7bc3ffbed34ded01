// The platform's wiring, a device's DMA port (timing, faults, shared links) and the control
// domain's own broker link, read exactly.
import { describe, expect, test } from "bun:test";
import { DevicePort, duplexLink } from "../../../../core/model/domains/device-port.ts";
import { isDmaFailure } from "../../../../core/model/domains/guest-dma-types.ts";
import { DATA_CORRUPT, intoMemory } from "../../../../core/model/domains/io.ts";
import { LocalBrokerLink } from "../../../../core/model/domains/local-link.ts";
import { Platform } from "../../../../core/model/domains/platform.ts";
import { encode, Msg, message } from "../../../../core/model/domains/protocol.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { DmaFault } from "../../../../core/model/iommu/iommu.ts";
import { parseCostModel } from "../../../../core/model/machine/parse.ts";
import { BitmapNextFitPolicy } from "../../../../plugins/policies/bitmap-next-fit.ts";
import { FirstFitPolicy } from "../../../../plugins/policies/first-fit.ts";
import { bootSmall, runProc } from "../../../helpers/platform.ts";
import { smallMachine, WINDOW_BASE } from "../../../helpers/small-machine.ts";

const DH = 0x200;
const PAGE = 8192;

describe("io contracts", () => {
  test("data moves into memory for rx and read only; a corrupt result is -1", () => {
    expect((["rx", "read", "tx", "write"] as const).map(intoMemory)).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(DATA_CORRUPT).toBe(-1);
  });
});

describe("platform", () => {
  test("guests by name; a wrong name lists them", () => {
    const b = bootSmall({ guests: 2 });
    expect(b.platform.guest("g2").id).toBe(2);
    expect(() => b.platform.guest("g9")).toThrow(
      new RangeError('no guest named "g9" (guests: g1, g2)'),
    );
    expect(b.platform.guests.map((g) => [g.name, g.id, [...g.dma.keys()]])).toEqual([
      ["g1", 1, [DH]],
      ["g2", 2, [DH]],
    ]);
    expect(b.platform.cpus.length).toBe(3);
    expect(b.platform.controlCpu).toBe(b.platform.cpus[0]!);
  });

  test("the control domain's DMA API exists once used, and then counts among those in use", () => {
    const b = bootSmall({ guests: 1 });
    expect(b.platform.dmaApisInUse.length).toBe(1);
    const c = b.platform.control;
    expect(b.platform.control).toBe(c);
    // the control domain has no device of its own here: no API, but it is booted
    expect([...c.dma.keys()]).toEqual([]);
    expect(b.platform.dmaApisInUse.length).toBe(1);
  });

  test("ports of devices under one root complex share its link; each port is its device's", () => {
    const b = bootSmall({ guests: 2 });
    const [p1, p2] = b.ports;
    expect([p1!.name, p1!.domain, p1!.devhandle, p1!.device]).toEqual(["dev1", 1, DH, 0]);
    expect([p2!.name, p2!.domain]).toEqual(["dev2", 2]);
    const shared = (p: object) => (p as { link: unknown }).link;
    expect(shared(p1!)).toBe(shared(p2!));
    expect(() => new DevicePort(b.sim, b.hv, 9, b.platform.cfg.cost, duplexLink(b.sim))).toThrow(
      new RangeError("no device 9"),
    );
  });
});

describe("platform LDC options", () => {
  function boot(ldc?: ConstructorParameters<typeof Platform>[0]["ldc"]) {
    const cost = parseCostModel({});
    return new Platform({
      md: smallMachine({ guests: 2 }),
      cost,
      seed: 1,
      globalPolicy: (_dh, w) => new FirstFitPolicy(w),
      localPolicy: (_g, _dh, w) => new BitmapNextFitPolicy(w),
      ldc,
    });
  }
  const pkt = () => encode(message(Msg.VER_INFO, { id: 1 }));

  test("defaults without options: 128 queue entries, nothing lost", () => {
    const p = boot();
    const ch = p.guests[0]!.channel;
    for (let i = 0; i < 128; i++) expect(ch.send(1, pkt())).toBe(HV.EOK);
    expect(ch.send(1, pkt())).toBe(HV.EWOULDBLOCK);
    expect(ch.dropped).toBe(0);
  });

  test("queue entries, loss and each packet's fate reach every guest's channel", () => {
    const small = boot({ queueEntries: 1 }).guests[0]!.channel;
    expect([small.send(1, pkt()), small.send(1, pkt())]).toEqual([HV.EOK, HV.EWOULDBLOCK]);
    const lossy = boot({ lossRate: 1 }).guests[1]!.channel;
    lossy.send(2, pkt());
    expect(lossy.dropped).toBe(1);
    const asked: number[] = [];
    const late = boot({
      fate: (channel) => {
        asked.push(channel);
        return 3;
      },
    });
    const g = late.guests[1]!;
    const arrived: number[] = [];
    g.channel.onReceive(0, () => arrived.push(late.sim.now));
    g.channel.send(2, pkt());
    late.sim.run(1e9);
    const cost = late.cfg.cost;
    expect(asked).toEqual([2]);
    // "late": after the sender has given up waiting
    expect(arrived).toEqual([2 * cost.ldcLatencyNs + cost.ldcTimeoutNs]);
  });
});

describe("device port", () => {
  function mapped(bytes: number, write: boolean) {
    const b = bootSmall({ guests: 2, guestDma: { leasePages: 8 } });
    for (const g of b.platform.guests) runProc(b, g.link.handshake());
    const g = b.platform.guests[0]!;
    const dma = g.dma.get(DH)!;
    const ra = g.memory.alloc(Math.ceil(bytes / PAGE));
    const m = runProc(b, dma.mapSingle(ra, bytes, write ? "from-device" : "to-device"));
    if (isDmaFailure(m)) throw new Error(m.error);
    const events: unknown[] = [];
    b.bus.on("dma.done", (e) => events.push({ ...e }));
    return { b, m, port: b.ports[0]!, events, cost: b.platform.cfg.cost };
  }
  const time = (b: ReturnType<typeof bootSmall>, fn: () => void) => {
    const t = b.sim.now;
    fn();
    return b.sim.now - t;
  };

  test("a transfer: setup and translation, then the slower of the device's and the shared link's data time", () => {
    const { b, m, port, events, cost } = mapped(3 * PAGE, true);
    const io = b.hv.iommus.get(DH)!;
    let end = 0;
    const t0 = b.sim.now;
    const p = b.sim.spawn(
      (function* () {
        const f = yield* port.dma(m.dvma, 3 * PAGE, true, 7);
        end = b.sim.now;
        return f;
      })(),
    );
    b.sim.run(t0 + 1e9);
    expect(p.done.value).toBe(DmaFault.none);
    const translate = io.lastCostNs;
    const data = Math.max(
      Math.ceil((3 * PAGE) / cost.rootComplexBytesPerNs),
      Math.ceil((3 * PAGE) / cost.dmaBytesPerNs),
    );
    expect(end - t0).toBe(cost.dmaSetupNs + translate + data);
    expect(port.stats).toEqual({ dmas: 1, bytes: 3 * PAGE, faults: 0 });
    expect(events).toEqual([
      expect.objectContaining({
        device: "dev1",
        domain: 1,
        devhandle: DH,
        dvma: m.dvma,
        bytes: 3 * PAGE,
        write: true,
        durNs: end - t0,
      }),
    ]);
  });

  test("a faulted transfer moves no data, is counted as a fault and reported as nothing done", () => {
    const { b, m, port, events, cost } = mapped(PAGE, false);
    // to-device: the device may not write it
    let f = -1;
    const dt = time(b, () => {
      b.sim.spawn(
        (function* () {
          f = yield* port.dma(m.dvma, PAGE, true, 1);
        })(),
      );
      b.sim.run(b.sim.now + 1e9);
    });
    expect(f).not.toBe(DmaFault.none);
    expect(port.stats).toEqual({ dmas: 1, bytes: 0, faults: 1 });
    expect(events).toEqual([]);
    expect(dt).toBe(1e9);
    expect(cost.dmaSetupNs).toBeGreaterThan(0);
  });

  test("a faulted transfer takes only its setup and translation, and needs no event bus", () => {
    const { b, m, cost } = mapped(PAGE, false);
    const io = b.hv.iommus.get(DH)!;
    const quiet = new DevicePort(b.sim, b.hv, 0, cost, duplexLink(b.sim));
    const t0 = b.sim.now;
    let end = -1;
    let fault = -1;
    b.sim.spawn(
      (function* () {
        fault = yield* quiet.dma(m.dvma, PAGE, true, 1);
        end = b.sim.now;
      })(),
    );
    b.sim.run(t0 + 1e9);
    expect(fault).not.toBe(DmaFault.none);
    expect(end - t0).toBe(cost.dmaSetupNs + io.lastCostNs);
    expect(runProc(b, quiet.dma(m.dvma, PAGE, false, 1))).toBe(DmaFault.none);
    expect(quiet.stats).toEqual({ dmas: 2, bytes: PAGE, faults: 1 });
  });

  test("two transfers the same way queue on the device's link; opposite ways overlap", () => {
    const { b, m, port, cost } = mapped(2 * PAGE, true);
    const ends: number[] = [];
    const t0 = b.sim.now;
    const go = (write: boolean) =>
      b.sim.spawn(
        (function* () {
          yield* port.dma(m.dvma, 2 * PAGE, write, 1);
          ends.push(b.sim.now - t0);
        })(),
      );
    go(true);
    go(true);
    b.sim.run(t0 + 1e9);
    const data = Math.ceil((2 * PAGE) / cost.dmaBytesPerNs);
    expect(ends[1]! - ends[0]!).toBe(data);
    ends.length = 0;
    const t1 = b.sim.now;
    const both = [true, false].map((w) =>
      b.sim.spawn(
        (function* () {
          yield* port.dma(m.dvma, 2 * PAGE, w, 1);
          ends.push(b.sim.now - t1);
        })(),
      ),
    );
    b.sim.run(t1 + 1e9);
    expect(both.every((p) => p.finished)).toBe(true);
    expect(ends[0]).toBe(ends[1]);
  });

  test("the link of a virtual function is set before any DMA, never after", () => {
    const { b, m, port } = mapped(PAGE, true);
    const lane = duplexLink(b.sim);
    port.useLink(lane);
    runProc(b, port.dma(m.dvma, 8, true, 1));
    expect(() => port.useLink(lane)).toThrow("dev1: link changed after DMA started");
  });
});

describe("the control domain's broker link", () => {
  test("a grant, a refusal, a release and anything else, with the broker's CPU time", () => {
    const b = bootSmall({ guests: 1, windowPages: 16 });
    const cost = b.platform.cfg.cost;
    const l = new LocalBrokerLink(b.broker, () => WINDOW_BASE, b.platform.controlCpu, cost);
    expect(runProc(b, l.handshake())).toBe(true);
    const g = runProc(b, l.ask(message(Msg.DVMA_REQ, { id: 4, devhandle: DH, npages: 3 })), 1e6);
    expect(g).toEqual(
      message(Msg.DVMA_GRANT, { id: 4, devhandle: DH, base: WINDOW_BASE, npages: 3 }),
    );
    expect(b.broker.grantsOf(0, DH)).toEqual([{ base: 0, npages: 3 }]);
    expect(b.platform.controlCpu.busyNs).toBeGreaterThan(cost.brokerRequestCpuNs);
    const second = runProc(b, l.ask(message(Msg.DVMA_REQ, { id: 8, devhandle: DH, npages: 2 })));
    expect(second).toEqual(
      message(Msg.DVMA_GRANT, { id: 8, devhandle: DH, base: WINDOW_BASE + 3 * PAGE, npages: 2 }),
    );
    runProc(
      b,
      l.ask(
        message(Msg.DVMA_RELEASE, {
          id: 9,
          devhandle: DH,
          base: WINDOW_BASE + 3 * PAGE,
          npages: 2,
        }),
      ),
    );
    const n = runProc(b, l.ask(message(Msg.DVMA_REQ, { id: 5, devhandle: DH, npages: 16 })));
    expect(n).toEqual(message(Msg.DVMA_NACK, { id: 5, reason: "no-space" }));
    const r = runProc(
      b,
      l.ask(
        message(Msg.DVMA_RELEASE, { id: 6, devhandle: DH, base: WINDOW_BASE + PAGE, npages: 2 }),
      ),
    );
    expect(r).toEqual(
      message(Msg.RELEASE_ACK, { id: 6, devhandle: DH, base: WINDOW_BASE + PAGE, npages: 2 }),
    );
    expect(b.broker.grantsOf(0, DH)).toEqual([{ base: 0, npages: 1 }]);
    expect(runProc(b, l.ask(message(Msg.VER_INFO, { id: 7 })))).toBeNull();
  });

  test("each ask takes a control-domain strand for the broker's request time", () => {
    const b = bootSmall({ guests: 1, windowPages: 16 });
    const cost = b.platform.cfg.cost;
    const l = new LocalBrokerLink(b.broker, () => WINDOW_BASE, b.platform.controlCpu, cost);
    const before = b.platform.controlCpu.busyNs;
    const t0 = b.sim.now;
    let end = 0;
    b.sim.spawn(
      (function* () {
        yield* l.ask(message(Msg.VER_INFO));
        end = b.sim.now;
      })(),
    );
    b.sim.run(t0 + 1e6);
    expect(end - t0).toBe(cost.brokerRequestCpuNs);
    expect(b.platform.controlCpu.busyNs - before).toBe(cost.brokerRequestCpuNs);
  });
});
