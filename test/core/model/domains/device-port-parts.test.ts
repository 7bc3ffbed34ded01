import { describe, expect, test } from "bun:test";
import {
  DevicePort,
  type DuplexLink,
  duplexLink,
  Link,
} from "../../../../core/model/domains/device-port.ts";
import { isDmaFailure } from "../../../../core/model/domains/guest-dma-types.ts";
import { DmaFault } from "../../../../core/model/iommu/iommu.ts";
import { parseCostModel } from "../../../../core/model/machine/parse.ts";
import type { Simulator } from "../../../../core/model/sim/kernel.ts";
import { Resource } from "../../../../core/model/sim/resource.ts";
import { bootSmall, runProc } from "../../../helpers/platform.ts";

/**
 * The parts of a device's DMA port one at a time: the link timeline's arithmetic, translation and
 * rights, bytes and counters, the times a transfer holds its links on each path (booked without
 * waiting, booked then waited, taken in turns), and the `dma.done` event each path announces.
 */

/** A translation that costs time even on an IOTLB hit, so latency is setup plus translation. */
const COST = { iotlbHitNs: 7 };
const cost = parseCostModel(COST);
const BYTES = 15_750;
const SHARED_NS = Math.ceil(BYTES / cost.rootComplexBytesPerNs);
const OWN_NS = Math.ceil(BYTES / cost.dmaBytesPerNs);
/** Setup plus a warm IOTLB's translation (one hit per page of the 2-page buffer). */
const LAT = cost.dmaSetupNs + 2 * cost.iotlbHitNs;
/** A faulted transfer is charged setup only (the IOMMU reports no translation time for it). */
const FAULT_NS = cost.dmaSetupNs;

const at = (now: number) => new Link({ now } as Simulator);

describe("Link: a timeline of booked stretches", () => {
  test("fit on an empty link starts at once", () => {
    expect(at(0).fit(5, 10)).toBe(5);
  });

  test("fit takes a gap that is exactly long enough and skips stretches already over", () => {
    const l = at(0);
    l.book(10, 20);
    expect(l.fit(0, 10)).toBe(0); // ends exactly where the booking starts
    expect(l.fit(0, 11)).toBe(20);
    expect(l.fit(30, 5)).toBe(30); // the booking is over by then
    expect(l.fit(20, 5)).toBe(20);
  });

  test("clash: -1 when nothing is booked in [from, to), else the first booked stretch's end", () => {
    const l = at(0);
    l.book(10, 20);
    expect(l.clash(0, 5)).toBe(-1);
    expect(l.clash(0, 10)).toBe(-1); // touching is not overlapping
    expect(l.clash(20, 30)).toBe(-1);
    expect(l.clash(15, 25)).toBe(20);
    expect(l.clash(0, 11)).toBe(20);
  });

  test("an empty stretch books nothing", () => {
    const l = at(0);
    l.book(5, 5);
    l.book(7, 3);
    expect(l.fit(0, 10)).toBe(0);
    expect(l.clash(0, 10)).toBe(-1);
  });

  test("a stretch booked before a later one is kept in time order", () => {
    const l = at(0);
    l.book(20, 30);
    l.book(0, 10);
    expect(l.fit(0, 10)).toBe(10);
    expect(l.fit(0, 11)).toBe(30);
    expect(l.clash(5, 25)).toBe(10);
    l.book(12, 15);
    expect(l.fit(10, 3)).toBe(15);
    expect(l.clash(10, 13)).toBe(15);
  });
});

describe("Link: stretches over by now are dropped", () => {
  test("a long timeline compacted keeps each stretch's start with its end", () => {
    const clock = { now: 0 };
    const l = new Link(clock as Simulator);
    for (let i = 0; i < 70; i++) l.book(2 * i, 2 * i + 1);
    // 66 stretches are over (ends 1..131): more than 64, so the lists are cut down to the last 4.
    clock.now = 131;
    expect(l.fit(131, 1)).toBe(131);
    expect(l.fit(131, 2)).toBe(139);
    expect(l.clash(131, 134)).toBe(133);
    clock.now = 139;
    expect(l.fit(139, 5)).toBe(139);
    expect(l.clash(0, 1e9)).toBe(-1);
  });

  /** The stretches a link holds, over or not (its memory). */
  const held = (l: Link) => (l as unknown as { starts: number[]; ends: number[] }).ends.length;

  test("a link whose stretches are all over holds none of them", () => {
    const clock = { now: 0 };
    const l = new Link(clock as Simulator);
    for (let i = 0; i < 3; i++) l.book(2 * i, 2 * i + 1);
    clock.now = 5;
    expect(l.fit(5, 1)).toBe(5);
    expect(held(l)).toBe(0);
  });

  test("a link never idle keeps at most 65 stretches over however long it runs, even after a burst ends", () => {
    const clock = { now: 0 };
    const l = new Link(clock as Simulator);
    // A burst of 100 stretches, all over at once at T, while the link stays busy.
    const T = 100;
    for (let k = 0; k < T; k++) l.book(k, k + 1);
    l.book(T, T + 1);
    let most = 0;
    for (let i = 0; i < 1000; i++) {
      // [T + 2i, T + 2i + 1) is still being used at T + 2i, and the next one is booked: never idle.
      clock.now = T + 2 * i;
      l.book(T + 2 * i + 2, T + 2 * i + 3);
      expect(l.fit(T + 2 * i, 1)).toBe(T + 2 * i + 1);
      most = Math.max(most, held(l));
    }
    expect(most).toBeLessThanOrEqual(65 + 2);
  });
});

/** A small machine with device 0's 2-page buffer mapped both ways, the IOTLB warm for both. */
function setup(opts: { link?: DuplexLink; bus?: boolean } = {}) {
  const b = bootSmall({ guests: 1, windowPages: 64, guestDma: { leasePages: 8 }, cost: COST });
  const g = b.platform.guests[0]!;
  expect(runProc(b, g.link.handshake())).toBe(true);
  const map = (dir: "to-device" | "from-device") => {
    const m = runProc(b, g.dma.get(0x200)!.mapSingle(g.memory.alloc(2), BYTES, dir));
    if (isDmaFailure(m)) throw new Error(m.error);
    return m.dvma;
  };
  const toDev = map("to-device");
  const fromDev = map("from-device");
  const dev = b.ports[0]!.device;
  const link = opts.link ?? duplexLink(b.sim);
  const port = new DevicePort(b.sim, b.hv, dev, cost, link, opts.bus === false ? undefined : b.bus);
  expect(runProc(b, port.dma(toDev, BYTES, false, 0))).toBe(0);
  expect(runProc(b, port.dma(fromDev, BYTES, true, 0))).toBe(0);
  const done: { dvma: number; bytes: number; write: boolean; durNs: number; at: number }[] = [];
  b.bus.on("dma.done", (e: { dvma: number; bytes: number; write: boolean; durNs: number }) =>
    done.push({ dvma: e.dvma, bytes: e.bytes, write: e.write, durNs: e.durNs, at: b.sim.now }),
  );
  return { b, port, link, toDev, fromDev, done };
}

/** Runs one waited `dma` from now; returns its fault code and how long it took. */
function timed(s: ReturnType<typeof setup>, dvma: number, write: boolean) {
  const t0 = s.b.sim.now;
  let t1 = t0;
  const sim = s.b.sim;
  const port = s.port;
  const fault = runProc(
    s.b,
    (function* () {
      const f = yield* port.dma(dvma, BYTES, write, 0);
      t1 = sim.now;
      return f;
    })(),
    1e6,
  );
  return { fault, ns: t1 - t0 };
}

describe("DevicePort: translation, rights, bytes and counters", () => {
  test("a mapped read moves its bytes in setup + data time; a write into a to-device mapping faults in setup time", () => {
    const s = setup();
    const before = { ...s.port.stats };
    expect(timed(s, s.toDev, false)).toEqual({ fault: 0, ns: LAT + OWN_NS });
    expect(timed(s, s.toDev, true)).toEqual({ fault: DmaFault.protection, ns: FAULT_NS });
    expect(timed(s, s.fromDev, true)).toEqual({ fault: 0, ns: LAT + OWN_NS });
    expect(s.port.stats).toEqual({
      dmas: before.dmas + 3,
      bytes: before.bytes + 2 * BYTES,
      faults: before.faults + 1,
    });
    // Only the transfers that moved data are announced, each with its own time.
    expect(s.done.map((d) => [d.dvma, d.write, d.durNs])).toEqual([
      [s.toDev, false, LAT + OWN_NS],
      [s.fromDev, true, LAT + OWN_NS],
    ]);
  });

  test("an unmapped address faults, moves nothing and books no link time", () => {
    const s = setup();
    const t = timed(s, s.toDev + 64 * 8192, false);
    expect(t.fault).not.toBe(0);
    expect(t.ns).toBeGreaterThan(0);
    expect(s.link[0].clash(s.b.sim.now - t.ns, s.b.sim.now + 1e6)).toBe(-1);
    expect(s.port.stats.faults).toBe(1);
    expect(s.done).toEqual([]);
  });

  test("a port whose own links are timelines issues; one taken in turns (or half so) does not", () => {
    const s = setup();
    expect(s.port.issues).toBe(true);
    const lane = new Resource(s.b.sim, 1);
    const p = new DevicePort(s.b.sim, s.b.hv, s.port.device, cost, s.link);
    p.useLink([lane, new Link(s.b.sim)]);
    expect(p.issues).toBe(false);
    p.useLink([new Link(s.b.sim), lane]);
    expect(p.issues).toBe(false);
  });
});

describe("DevicePort: construction", () => {
  test("a port names an existing device", () => {
    const s = setup();
    expect(() => new DevicePort(s.b.sim, s.b.hv, 99, cost, s.link)).toThrow(
      new RangeError("no device 99"),
    );
  });
});

describe("DevicePort: a fault waits its setup on both paths, even a setup of 0 ns", () => {
  test("another process of the same instant runs before the faulted transfer returns", () => {
    const zero = parseCostModel({ dmaSetupNs: 0 });
    const s = setup();
    const order = (lane: boolean): string[] => {
      const p = new DevicePort(s.b.sim, s.b.hv, s.port.device, zero, s.link);
      if (lane) {
        const r = new Resource(s.b.sim, 1);
        p.useLink([r, r]);
      }
      const seen: string[] = [];
      s.b.sim.spawn(
        (function* () {
          expect(yield* p.dma(s.toDev, BYTES, true, 0)).toBe(DmaFault.protection);
          seen.push("faulted");
        })(),
      );
      s.b.sim.at(s.b.sim.now, () => seen.push("other"));
      s.b.sim.run(s.b.sim.now + 1000);
      return seen;
    };
    expect(order(false)).toEqual(["other", "faulted"]);
    expect(order(true)).toEqual(["other", "faulted"]);
  });
});

describe("DevicePort.issue: booked now, waited for by the caller", () => {
  test("doneAt, counters and dma.done at doneAt match the waited path", () => {
    const s = setup();
    const t0 = s.b.sim.now;
    expect(s.port.issue(s.toDev, BYTES, false, 0)).toBe(0);
    expect(s.port.doneAt).toBe(t0 + LAT + OWN_NS);
    expect(s.port.issue(s.toDev, BYTES, false, 0)).toBe(0);
    expect(s.port.doneAt).toBe(t0 + LAT + 2 * OWN_NS); // its data follows the first's
    expect(s.port.issue(s.toDev, BYTES, true, 0)).toBe(DmaFault.protection);
    expect(s.port.doneAt).toBe(t0 + FAULT_NS); // a fault is known after setup, books nothing
    expect(s.done).toEqual([]); // announced when through, not when issued
    s.b.sim.run(t0 + 1e6);
    expect(s.done.map((d) => [d.at - t0, d.durNs, d.bytes])).toEqual([
      [LAT + OWN_NS, LAT + OWN_NS, BYTES],
      [LAT + 2 * OWN_NS, LAT + 2 * OWN_NS, BYTES],
    ]);
    expect(s.port.stats.faults).toBe(1);
  });

  test("a port without an event bus issues and waits without announcing", () => {
    const s = setup({ bus: false });
    expect(s.port.issue(s.toDev, BYTES, false, 0)).toBe(0);
    expect(timed(s, s.toDev, false).fault).toBe(0);
    expect(s.done).toEqual([]);
  });

  test("begin/end give the waited path's time and announce at end", () => {
    const s = setup();
    const t0 = s.b.sim.now;
    const fault = s.port.begin(s.fromDev, BYTES, true, 0);
    expect(fault).toBe(0);
    expect(s.port.doneAt).toBe(t0 + LAT + OWN_NS);
    s.b.sim.run(s.port.doneAt);
    s.port.end(fault, s.fromDev, BYTES, true, t0);
    expect(s.done.map((d) => d.durNs)).toEqual([LAT + OWN_NS]);
  });

  test("begin/end of a faulted transfer: known after setup, no link time booked, counted, not announced", () => {
    const s = setup();
    const t0 = s.b.sim.now;
    const before = { ...s.port.stats };
    const fault = s.port.begin(s.toDev, BYTES, true, 0);
    expect(fault).toBe(DmaFault.protection);
    expect(s.port.doneAt).toBe(t0 + FAULT_NS);
    expect(s.link[1].clash(t0, t0 + 1e6)).toBe(-1);
    s.b.sim.run(s.port.doneAt);
    s.port.end(fault, s.toDev, BYTES, true, t0);
    expect(s.port.stats).toEqual({ ...before, dmas: before.dmas + 1, faults: before.faults + 1 });
    expect(s.done).toEqual([]);
  });

  test("begin/end on a port without an event bus count without announcing", () => {
    const s = setup({ bus: false });
    const t0 = s.b.sim.now;
    const fault = s.port.begin(s.fromDev, BYTES, true, 0);
    s.b.sim.run(s.port.doneAt);
    s.port.end(fault, s.fromDev, BYTES, true, t0);
    expect(s.port.stats.bytes).toBe(3 * BYTES);
    expect(s.done).toEqual([]);
  });
});

describe("DevicePort: own and shared link times", () => {
  test("waiting for the shared link keeps the own link: a later own booking in the way moves the transfer past it", () => {
    const s = setup();
    const t0 = s.b.sim.now;
    const p = new DevicePort(s.b.sim, s.b.hv, s.port.device, cost, s.link);
    const mine: DuplexLink = duplexLink(s.b.sim);
    p.useLink(mine);
    // The shared link is busy until t0 + LAT + 2000, so the data would end its share after the own
    // link's next booking starts (OWN_NS + 5 after setup): the transfer must start after that one.
    expect(2000 + SHARED_NS).toBeGreaterThan(OWN_NS + 5);
    s.link[0].book(t0, t0 + LAT + 2000);
    mine[0].book(t0 + LAT + OWN_NS + 5, t0 + LAT + OWN_NS + 100);
    expect(timed({ ...s, port: p }, s.toDev, false)).toEqual({
      fault: 0,
      ns: LAT + OWN_NS + 100 + OWN_NS,
    });
  });
});

describe("DevicePort: a link taken in turns (SR-IOV functions sharing their port's)", () => {
  function lanes() {
    const s = setup();
    const lane = new Resource(s.b.sim, 1);
    const p = new DevicePort(s.b.sim, s.b.hv, s.port.device, cost, s.link, s.b.bus);
    p.useLink([lane, lane]);
    return { s, p: { ...s, port: p }, lane };
  }

  test("a transfer waits setup, then its turn, then its data on the slower of the two links", () => {
    const { p } = lanes();
    expect(timed(p, p.toDev, false)).toEqual({ fault: 0, ns: LAT + OWN_NS });
    expect(timed(p, p.toDev, true)).toEqual({ fault: DmaFault.protection, ns: FAULT_NS });
    expect(timed(p, p.fromDev, true)).toEqual({ fault: 0, ns: LAT + OWN_NS }); // the turn came back
    expect(p.port.stats).toEqual({ dmas: 3, bytes: 2 * BYTES, faults: 1 });
    expect(p.done.map((d) => d.durNs)).toEqual([LAT + OWN_NS, LAT + OWN_NS]);
  });

  test("the shared link booked ahead binds: data ends its share after the booking", () => {
    const { p } = lanes();
    const t0 = p.b.sim.now;
    p.link[0].book(t0, t0 + LAT + 3000);
    expect(3000 + SHARED_NS).toBeGreaterThan(OWN_NS);
    expect(timed(p, p.toDev, false)).toEqual({ fault: 0, ns: LAT + 3000 + SHARED_NS });
    // Its share is booked: the stretch before its end is taken.
    const end = t0 + LAT + 3000 + SHARED_NS;
    expect(p.link[0].clash(end - 1, end + 1)).toBe(end);
  });

  test("a port half taken in turns books the timeline half and takes turns on the other", () => {
    const { s } = lanes();
    const lane = new Resource(s.b.sim, 1);
    const p = new DevicePort(s.b.sim, s.b.hv, s.port.device, cost, s.link);
    p.useLink([new Link(s.b.sim), lane]);
    const ps = { ...s, port: p };
    expect(timed(ps, s.toDev, false)).toEqual({ fault: 0, ns: LAT + OWN_NS });
    expect(timed(ps, s.toDev, false)).toEqual({ fault: 0, ns: LAT + OWN_NS });
    expect(timed(ps, s.fromDev, true)).toEqual({ fault: 0, ns: LAT + OWN_NS });
    expect(timed(ps, s.fromDev, true)).toEqual({ fault: 0, ns: LAT + OWN_NS });
  });

  test("useLink after the first transfer is refused", () => {
    const { s } = lanes();
    expect(() => s.port.useLink(duplexLink(s.b.sim))).toThrow(/link changed after DMA started/);
  });
});
