// The guest DMA API's results, refusals, counters and TTEs, case by case: geometry of mapSingle and
// mapSg, what each failure leaves behind, per-map and lease acquisition, strict and deferred
// unmaps, coherent buffers, sync, idle leases.
import { describe, expect, test } from "bun:test";
import type { BrokerLink } from "../../../../core/model/domains/broker-client.ts";
import { checkLocalPolicy } from "../../../../core/model/domains/checked-local.ts";
import { GuestDmaApi } from "../../../../core/model/domains/guest-dma.ts";
import {
  attrsOf,
  DEFAULT_GUEST_DMA,
  type DmaFailure,
  type DmaMapping,
  isDmaFailure,
  newDmaStats,
} from "../../../../core/model/domains/guest-dma-types.ts";
import { Platform } from "../../../../core/model/domains/platform.ts";
import { type Message, Msg, message } from "../../../../core/model/domains/protocol.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { IO_ATTR_READ, IO_ATTR_WRITE } from "../../../../core/model/iommu/iotsb.ts";
import { parseCostModel } from "../../../../core/model/machine/parse.ts";
import { type Proc, Simulator } from "../../../../core/model/sim/kernel.ts";
import { BitmapNextFitPolicy } from "../../../../plugins/policies/bitmap-next-fit.ts";
import { FirstFitPolicy } from "../../../../plugins/policies/first-fit.ts";
import { bootSmall, runProc } from "../../../helpers/platform.ts";
import { smallMachine, WINDOW_BASE } from "../../../helpers/small-machine.ts";

const DH = 0x200;
const PAGE = 8192;

function booted(opts: Parameters<typeof bootSmall>[0] = {}) {
  const b = bootSmall({ windowPages: 64, ...opts, guestDma: { leasePages: 8, ...opts.guestDma } });
  for (const g of b.platform.guests) expect(runProc(b, g.link.handshake())).toBe(true);
  const g = b.platform.guests[0]!;
  const dma = g.dma.get(DH)!;
  const io = b.hv.iommus.get(DH)!;
  const mem = b.hv.domains[g.id]!.mem;
  /** [valid, pa page, attrs] of window entries [from, to). */
  const ttes = (from: number, to: number) => {
    const out: [boolean, number, number][] = [];
    for (let i = from; i < to; i++)
      out.push([io.iotsb.isValid(i), io.iotsb.pa[i]!, io.iotsb.attr[i]! & 3]);
    return out;
  };
  const valid = () => io.iotsb.valid;
  return {
    b,
    g,
    dma,
    io,
    mem,
    ttes,
    valid,
    run: <T>(p: Proc<T>, untilNs = 1e9) => runProc(b, p, untilNs),
  };
}

const mapping = (r: DmaMapping | DmaFailure) => {
  if (isDmaFailure(r)) throw new Error(`mapping failed: ${r.error}`);
  return r;
};

/** A guest that defers unmaps (flushed at 100 entries or after 1 ms) with `n` one-page mappings. */
function deferredMaps(n: number) {
  const t = booted({
    guestDma: { unmap: "deferred", deferredMaxEntries: 100, deferredMaxNs: 1e6 },
  });
  const ra = t.g.memory.alloc(n);
  const ms = Array.from({ length: n }, (_, i) =>
    mapping(t.run(t.dma.mapSingle(ra + i * PAGE, 1, "to-device"))),
  );
  return { t, ms };
}

describe("types", () => {
  test("attributes per direction; a failure is told from a mapping; counters start at 0", () => {
    expect(attrsOf("to-device")).toBe(IO_ATTR_READ);
    expect(attrsOf("from-device")).toBe(IO_ATTR_READ | IO_ATTR_WRITE);
    expect(attrsOf("bidirectional")).toBe(IO_ATTR_READ | IO_ATTR_WRITE);
    expect(isDmaFailure({ error: "x" })).toBe(true);
    expect(isDmaFailure({ dvma: 1 })).toBe(false);
    expect(Object.values(newDmaStats()).every((v) => v === 0)).toBe(true);
    expect(Object.keys(newDmaStats()).length).toBe(10);
  });

  test("defaults: leases of 512 pages kept forever, strict unmap, Linux's deferred bounds", () => {
    expect(DEFAULT_GUEST_DMA).toEqual({
      acquire: "lease",
      leasePages: 512,
      unmap: "strict",
      deferredMaxEntries: 250,
      deferredMaxNs: 10_000_000,
      leaseIdleNs: 0,
    });
  });
});

describe("mapSingle and mapSg", () => {
  test("pages spanned, the RA's offset kept, one TTE per page at its own physical page", () => {
    const t = booted();
    const ra = t.g.memory.alloc(3);
    const m = mapping(t.run(t.dma.mapSingle(ra + 100, 2 * PAGE, "to-device")));
    expect(m).toEqual({
      dvma: WINDOW_BASE + 100,
      len: 2 * PAGE,
      index: 0,
      npages: 3,
      attrs: IO_ATTR_READ,
    });
    const pa = t.mem.paPageOf(ra);
    expect(t.ttes(0, 4)).toEqual([
      [true, pa, IO_ATTR_READ],
      [true, pa + 1, IO_ATTR_READ],
      [true, pa + 2, IO_ATTR_READ],
      [false, 0, 0],
    ]);
    const end = mapping(t.run(t.dma.mapSingle(ra + PAGE - 1, 1, "from-device")));
    expect([end.index, end.npages, end.dvma, end.attrs]).toEqual([
      3,
      1,
      WINDOW_BASE + 3 * PAGE + PAGE - 1,
      IO_ATTR_READ | IO_ATTR_WRITE,
    ]);
    const two = mapping(t.run(t.dma.mapSingle(ra + PAGE - 1, 2, "bidirectional")));
    expect(two.npages).toBe(2);
    const exact = mapping(t.run(t.dma.mapSingle(ra, PAGE, "bidirectional")));
    expect(exact.npages).toBe(1);
    expect(t.dma.stats).toMatchObject({ maps: 4, failures: 0, negotiations: 1, mapCalls: 4 });
  });

  test("past one page list (1,024 entries) the rest goes in a second call, each page at its own place", () => {
    const t = booted({ windowPages: 2048, guestMiB: 16, guestDma: { leasePages: 1100 } });
    const ra = t.g.memory.alloc(1030);
    const m = mapping(t.run(t.dma.mapSingle(ra, 1030 * PAGE, "to-device")));
    expect([m.npages, t.valid(), t.dma.stats.mapCalls]).toEqual([1030, 1030, 2]);
    const pa = t.mem.paPageOf(ra);
    expect(t.ttes(m.index + 1023, m.index + 1031).map((e) => e[1])).toEqual([
      pa + 1023,
      pa + 1024,
      pa + 1025,
      pa + 1026,
      pa + 1027,
      pa + 1028,
      pa + 1029,
      0,
    ]);
  });

  test("a length that is not positive is refused before any work", () => {
    const t = booted();
    const ra = t.g.memory.alloc(1);
    for (const len of [0, -5, Number.NaN])
      expect(t.run(t.dma.mapSingle(ra, len, "to-device"))).toEqual({ error: "bad-length" });
    expect(t.run(t.dma.mapSg([], "to-device"))).toEqual({ error: "bad-length" });
    expect(
      t.run(
        t.dma.mapSg(
          [
            { ra, len: 10 },
            { ra, len: 0 },
          ],
          "to-device",
        ),
      ),
    ).toEqual({
      error: "bad-length",
    });
    expect(t.dma.stats).toMatchObject({ failures: 5, maps: 0, negotiations: 0, refused: 0 });
    expect(t.valid()).toBe(0);
  });

  test("mapSg lays the segments' pages end to end, the first segment's offset kept", () => {
    const t = booted();
    const a = t.g.memory.alloc(2);
    const b = t.g.memory.alloc(1);
    const m = mapping(
      t.run(
        t.dma.mapSg(
          [
            { ra: b + 16, len: 100 },
            { ra: a + PAGE - 8, len: 16 },
          ],
          "to-device",
        ),
      ),
    );
    expect(m).toEqual({
      dvma: WINDOW_BASE + 16,
      len: 116,
      index: 0,
      npages: 3,
      attrs: IO_ATTR_READ,
    });
    const pa = (ra: number) => t.mem.paPageOf(ra);
    expect(t.ttes(0, 3).map((e) => e[1])).toEqual([pa(b), pa(a), pa(a + PAGE)]);
  });

  test("a dead domain maps nothing", () => {
    const t = booted();
    const ra = t.g.memory.alloc(1);
    t.b.hv.killDomain(t.g.id, "test");
    expect(t.dma.alive).toBe(false);
    expect(t.run(t.dma.mapSingle(ra, 1, "to-device"))).toEqual({ error: "domain-dead" });
    expect(t.dma.stats.failures).toBe(1);
  });

  test("a map the hypervisor refuses is undone: nothing stays mapped, the pages go back", () => {
    const t = booted({ maxTtesPerCall: 2 });
    const ra = t.g.memory.alloc(3);
    const bad = 0x7fff_0000 * PAGE; // not the guest's memory
    const r = t.run(
      t.dma.mapSg(
        [
          { ra, len: 3 * PAGE },
          { ra: bad, len: 1 },
        ],
        "to-device",
      ),
    );
    expect(isDmaFailure(r) && r.error).toMatch(/^map-status-\d+$/);
    expect((r as DmaFailure).error).not.toBe(`map-status-${HV.EOK}`);
    expect(t.valid()).toBe(0);
    // two entries mapped by the first call; the second call's list names a page not the guest's
    expect(t.dma.stats).toMatchObject({ failures: 1, maps: 0, mapCalls: 2, demapCalls: 1 });
    expect(t.dma.heldLeases.map((l) => l.live)).toEqual([0]);
    // the pages are free again
    expect(t.dma.policyStats()).toMatchObject({ allocatedPages: 0, freePages: 8 });
  });

  test("the first batch refused: no demap is needed", () => {
    const t = booted();
    const r = t.run(t.dma.mapSingle(0x7fff_0000 * PAGE, 1, "to-device"));
    expect(isDmaFailure(r)).toBe(true);
    expect(t.dma.stats).toMatchObject({ mapCalls: 1, demapCalls: 0 });
  });
});

describe("acquiring DVMA", () => {
  test("leases: one lease serves maps until full; a larger mapping gets a lease of its size", () => {
    const t = booted();
    const ra = t.g.memory.alloc(12);
    for (let i = 0; i < 8; i++) mapping(t.run(t.dma.mapSingle(ra + i * PAGE, 1, "to-device")));
    expect(t.dma.stats).toMatchObject({ negotiations: 1, leasesHeld: 1 });
    const big = mapping(t.run(t.dma.mapSingle(ra, 10 * PAGE, "to-device")));
    expect([big.index, big.npages]).toEqual([8, 10]);
    expect(t.dma.heldLeases.map((l) => [l.base, l.npages, l.live])).toEqual([
      [0, 8, 8],
      [8, 10, 1],
    ]);
    expect(t.b.broker.grantsOf(t.g.id, DH)).toEqual([
      { base: 0, npages: 8 },
      { base: 8, npages: 10 },
    ]);
    expect(t.dma.stats).toMatchObject({ negotiations: 2, leasesHeld: 2 });
    // two round trips to the broker, each well under a millisecond
    expect(t.dma.stats.dvmaWaitNs).toBeGreaterThan(4 * t.b.platform.cfg.cost.ldcLatencyNs);
    expect(t.dma.stats.dvmaWaitNs).toBeLessThan(1e6);
  });

  test("a lease's first page is a place like any other: no second lease for it", () => {
    const t = booted();
    const ra = t.g.memory.alloc(8);
    const a = mapping(t.run(t.dma.mapSingle(ra, 8 * PAGE, "to-device")));
    t.run(t.dma.unmapSingle(a));
    const b = mapping(t.run(t.dma.mapSingle(ra, 8 * PAGE, "to-device")));
    expect([a.index, b.index, t.dma.stats.negotiations]).toEqual([0, 0, 1]);
  });

  test("a nack names its reason; a silent broker is a timeout; both are refusals", () => {
    const t = booted({ windowPages: 16, guestDma: { leasePages: 16 } });
    const ra = t.g.memory.alloc(2);
    expect(
      runProc(t.b, t.b.platform.guests[1]!.dma.get(DH)!.mapSingle(ra, 1, "to-device")),
    ).toBeDefined();
    // guest 2 holds a 16-page lease: the window is full
    const r = t.run(t.dma.mapSingle(ra, 1, "to-device"));
    expect(r).toEqual({ error: expect.stringMatching(/^nack:no free range of 1 pa/) });
    t.b.broker.crash();
    expect(t.run(t.dma.mapSingle(ra, 1, "to-device"))).toEqual({ error: "negotiation-timeout" });
    expect(t.dma.stats).toMatchObject({ refused: 2, failures: 2, maps: 0 });
  });

  test("per-map: each mapping is its own grant, given back on unmap", () => {
    const t = booted({ guestDma: { acquire: "per-map" } });
    const ra = t.g.memory.alloc(3);
    const a = mapping(t.run(t.dma.mapSingle(ra, 2 * PAGE, "to-device")));
    const b = mapping(t.run(t.dma.mapSingle(ra + 2 * PAGE, 1, "to-device")));
    expect([a.index, a.npages, b.index, b.npages]).toEqual([0, 2, 2, 1]);
    expect([...t.dma.accounting.perMap]).toEqual([
      [0, 2],
      [2, 1],
    ]);
    expect(t.dma.heldLeases).toEqual([]);
    t.run(t.dma.unmapSingle(b));
    t.b.sim.run(t.b.sim.now + 1e8);
    expect([...t.dma.accounting.perMap]).toEqual([[0, 2]]);
    expect(t.b.broker.grantsOf(t.g.id, DH)).toEqual([{ base: 0, npages: 2 }]);
    t.run(t.dma.unmapSingle(a));
    t.b.sim.run(t.b.sim.now + 1e8);
    expect(t.b.broker.grantsOf(t.g.id, DH)).toEqual([]);
    expect(t.dma.stats).toMatchObject({ negotiations: 2, unmaps: 2, leasesHeld: 0 });
  });

  test("a per-map nack is a refusal", () => {
    const t = booted({ windowPages: 4, guestDma: { acquire: "per-map" } });
    const ra = t.g.memory.alloc(5);
    expect(t.run(t.dma.mapSingle(ra, 5 * PAGE, "to-device"))).toEqual({ error: "nack:bad-npages" });
    expect(t.dma.stats).toMatchObject({ refused: 1, negotiations: 1 });
    expect([...t.dma.accounting.perMap]).toEqual([]);
  });

  test("a refusal still holds the vCPU for the DMA API's own work after the answer", () => {
    const elapsed = (extraNs: number) => {
      const cost = { dmaApiCpuNs: parseCostModel({}).dmaApiCpuNs + extraNs };
      const t = booted({ windowPages: 4, cost, guestDma: { acquire: "per-map" } });
      const ra = t.g.memory.alloc(5);
      const sim = t.b.sim;
      const t0 = sim.now;
      const dma = t.dma;
      const { r, end } = t.run(
        (function* () {
          const r = yield* dma.mapSingle(ra, 5 * PAGE, "to-device");
          return { r, end: sim.now };
        })(),
      );
      expect(r).toEqual({ error: "nack:bad-npages" });
      return end - t0;
    };
    expect(elapsed(1000) - elapsed(0)).toBe(1000);
  });

  test("a policy that asks for per-map acquisition gets it whatever the guest's setting", () => {
    const t = booted();
    const env = (t.dma as unknown as { env: ConstructorParameters<typeof GuestDmaApi>[0] }).env;
    const perMapPolicy = Object.assign(Object.create(env.policy), { acquire: "per-map" as const });
    const api = new GuestDmaApi(
      { ...env, policy: perMapPolicy },
      { acquire: "lease", leasePages: 4 },
    );
    expect(api.opts).toMatchObject({ acquire: "per-map", leasePages: 4, unmap: "strict" });
    expect(new GuestDmaApi(env, { leasePages: 4 }).opts.acquire).toBe("lease");
    expect(() => new GuestDmaApi({ ...env, devhandle: 0x300 })).toThrow(
      new RangeError(`no root complex with devhandle ${0x300}`),
    );
  });

  test("a DMA mask below the lease: the lease comes, the local policy still cannot place it", () => {
    const t = booted();
    const other = t.b.platform.guests[1]!.dma.get(DH)!;
    const ra = t.g.memory.alloc(1);
    mapping(runProc(t.b, other.mapSingle(t.b.platform.guests[1]!.memory.alloc(1), 1, "to-device")));
    // entries 0..7 are guest 2's lease: guest 1's lease starts at 8, above a limit of 4
    expect(t.run(t.dma.mapSingle(ra, 1, "to-device", 0, 4))).toEqual({
      error: "local-policy-refused",
    });
    expect(mapping(t.run(t.dma.mapSingle(ra, 1, "to-device", 0, 16))).index).toBe(8);
  });

  test("answers from the broker link: an empty nack reason reads 'refused'", () => {
    const t = booted();
    const env = (t.dma as unknown as { env: ConstructorParameters<typeof GuestDmaApi>[0] }).env;
    const link: BrokerLink = {
      // biome-ignore lint/correctness/useYield: answers at once
      *handshake() {
        return true;
      },
      // biome-ignore lint/correctness/useYield: answers at once
      *ask(m: Message) {
        return message(Msg.DVMA_NACK, { id: m.id });
      },
    };
    const api = new GuestDmaApi({ ...env, link });
    expect(t.run(api.mapSingle(t.g.memory.alloc(1), 1, "to-device"))).toEqual({
      error: "nack:refused",
    });
  });
});

describe("unmapping", () => {
  test("strict: the TTEs are gone and the pages free again at once", () => {
    const t = booted();
    const ra = t.g.memory.alloc(2);
    const m = mapping(t.run(t.dma.mapSingle(ra, 2 * PAGE, "to-device")));
    t.run(t.dma.unmapSingle(m));
    expect(t.valid()).toBe(0);
    expect(t.dma.heldLeases[0]!.live).toBe(0);
    expect(t.dma.stats).toMatchObject({ unmaps: 1, demapCalls: 1 });
    expect(mapping(t.run(t.dma.mapSingle(ra, 1, "to-device"))).index).toBe(2);
  });

  test("deferred: flushed at the entry bound, adjacent runs demapped by one call each", () => {
    const t = booted({
      guestDma: { unmap: "deferred", deferredMaxEntries: 4, deferredMaxNs: 1e9 },
    });
    const ra = t.g.memory.alloc(6);
    const ms = [0, 1, 2, 3, 4].map((i) =>
      mapping(t.run(t.dma.mapSingle(ra + i * PAGE, 1, "to-device"))),
    );
    // unmapped out of order; entries 0, 1, 2 and 4 pending: 0..2 is one run, 4 another
    for (const i of [2, 0, 4]) t.run(t.dma.unmapSingle(ms[i]!), 1e6);
    expect(t.valid()).toBe(5);
    expect([...t.dma.accounting.deferred]).toEqual([2, 1, 0, 1, 4, 1]);
    t.run(t.dma.unmapSingle(ms[1]!), 1e6);
    expect(t.dma.stats).toMatchObject({ deferredFlushes: 1, demapCalls: 2, unmaps: 4 });
    expect(t.ttes(0, 5).map((e) => e[0])).toEqual([false, false, false, true, false]);
    expect([...t.dma.accounting.deferred]).toEqual([]);
    expect(t.dma.heldLeases[0]!.live).toBe(1);
  });

  test("deferred: flushed by the timer after deferredMaxNs, once", () => {
    const {
      t,
      ms: [a, b],
    } = deferredMaps(2);
    const t0 = t.b.sim.now;
    t.b.sim.spawn(t.dma.unmapSingle(a));
    t.b.sim.run(t0 + 5e5);
    t.b.sim.spawn(t.dma.unmapSingle(b)); // the timer is already running
    t.b.sim.run(t0 + 9.9e5);
    expect(t.valid()).toBe(2);
    t.b.sim.run(t0 + 1.1e6);
    expect(t.valid()).toBe(0);
    expect(t.dma.stats.deferredFlushes).toBe(1);
    t.b.sim.run(t0 + 1e8);
    expect(t.dma.stats.deferredFlushes).toBe(1);
    t.run(t.dma.flush()); // nothing pending: nothing done
    expect(t.dma.stats.deferredFlushes).toBe(1);
  });

  test("after a timer's flush the next unmap starts a timer of its own", () => {
    const { t, ms } = deferredMaps(3);
    const t0 = t.b.sim.now;
    t.b.sim.spawn(t.dma.unmapSingle(ms[0]!));
    t.b.sim.run(t0 + 5e5);
    t.b.sim.spawn(t.dma.unmapSingle(ms[1]!));
    t.b.sim.run(t0 + 1.1e6);
    expect(t.valid()).toBe(1);
    t.b.sim.spawn(t.dma.unmapSingle(ms[2]!));
    t.b.sim.run(t0 + 1.6e6);
    expect(t.valid()).toBe(1); // its own timer: not flushed by one started before
    t.b.sim.run(t0 + 2.2e6);
    expect(t.valid()).toBe(0);
    expect(t.dma.stats.deferredFlushes).toBe(2);
  });

  test("an explicit flush cancels the pending timer; a later unmap gets a timer of its own", () => {
    const {
      t,
      ms: [a, b],
    } = deferredMaps(2);
    const t0 = t.b.sim.now;
    t.b.sim.spawn(t.dma.unmapSingle(a));
    t.b.sim.run(t0 + 1000);
    t.b.sim.spawn(t.dma.flush());
    t.b.sim.run(t0 + 5e5);
    expect(t.valid()).toBe(1);
    t.b.sim.spawn(t.dma.unmapSingle(b));
    t.b.sim.run(t0 + 1.2e6); // the cancelled timer would have fired at 1e6
    expect(t.valid()).toBe(1);
    t.b.sim.run(t0 + 1.6e6);
    expect(t.valid()).toBe(0);
    expect(t.dma.stats.deferredFlushes).toBe(2);
  });

  test("a flush with nothing pending does not wait for its vCPU", () => {
    const t = booted();
    const cpu = t.g.cpu;
    const t0 = t.b.sim.now;
    t.b.sim.spawn(
      (function* () {
        const v = yield* cpu.take(0);
        yield 5000;
        cpu.free(v);
      })(),
    );
    let end = -1;
    t.b.sim.spawn(
      (function* () {
        yield* t.dma.flush(0);
        end = t.b.sim.now;
      })(),
    );
    t.b.sim.run(t0 + 1e6);
    expect(end).toBe(t0);
  });

  test("an explicit flush demaps what is pending and cancels the timer", () => {
    const t = booted({
      guestDma: { unmap: "deferred", deferredMaxEntries: 100, deferredMaxNs: 1e6 },
    });
    const a = mapping(t.run(t.dma.mapSingle(t.g.memory.alloc(1), 1, "to-device")));
    t.b.sim.spawn(t.dma.unmapSingle(a));
    t.b.sim.run(t.b.sim.now + 1000);
    t.run(t.dma.flush());
    expect([t.valid(), t.dma.stats.deferredFlushes]).toEqual([0, 1]);
    t.b.sim.run(t.b.sim.now + 1e8);
    expect(t.dma.stats.deferredFlushes).toBe(1);
  });

  test("a strict unmap larger than the per-call limit loops until every entry is clear", () => {
    const t = booted({ maxTtesPerCall: 3, guestDma: { leasePages: 16 } });
    const ra = t.g.memory.alloc(12);
    mapping(t.run(t.dma.mapSingle(ra, PAGE, "to-device")));
    const m = mapping(t.run(t.dma.mapSingle(ra + PAGE, 10 * PAGE, "to-device")));
    const after = mapping(t.run(t.dma.mapSingle(ra + 11 * PAGE, PAGE, "to-device")));
    expect([m.index, after.index, t.valid()]).toEqual([1, 11, 12]);
    t.run(t.dma.unmapSingle(m));
    // the mappings on either side stay
    expect(t.ttes(0, 13).map((e) => e[0])).toEqual([true, ...Array(10).fill(false), true, false]);
    expect(t.dma.stats.demapCalls).toBe(4);
  });

  test("a demap of entries already revoked stops at once", () => {
    const t = booted();
    const m = mapping(t.run(t.dma.mapSingle(t.g.memory.alloc(1), 1, "to-device")));
    expect(t.b.hv.dvmaRevoke(0, t.g.id, DH, WINDOW_BASE, 8)).toBe(HV.EOK);
    (t.dma as unknown as { calls: { demap(i: number, n: number): number } }).calls.demap(
      m.index,
      8,
    );
    expect(t.dma.stats.demapCalls).toBe(1);
  });
});

describe("coherent buffers, sync, stats and idle leases", () => {
  test("allocCoherent maps fresh pages both ways; freeCoherent gives them back", () => {
    const t = booted();
    const free = t.g.memory.freePages;
    const c = t.run(t.dma.allocCoherent(PAGE + 1));
    if (isDmaFailure(c)) throw new Error(c.error);
    expect(c.mapping).toMatchObject({
      npages: 2,
      len: PAGE + 1,
      attrs: IO_ATTR_READ | IO_ATTR_WRITE,
    });
    expect(c.mapping.dvma).toBe(WINDOW_BASE);
    expect(t.g.memory.freePages).toBe(free - 2);
    t.run(t.dma.freeCoherent(c));
    expect(t.g.memory.freePages).toBe(free);
    expect(t.valid()).toBe(0);
    expect(t.run(t.dma.allocCoherent(2000 * PAGE))).toEqual({ error: "out-of-memory" });
    expect(t.g.memory.freePages).toBe(free);
  });

  test("a coherent buffer that cannot be mapped goes back to the allocator", () => {
    const t = booted();
    t.b.broker.crash();
    const free = t.g.memory.freePages;
    expect(t.run(t.dma.allocCoherent(PAGE))).toEqual({ error: "negotiation-timeout" });
    expect(t.g.memory.freePages).toBe(free);
  });

  test("sync returns the hypervisor's status for the buffer", () => {
    const t = booted();
    const ra = t.g.memory.alloc(1);
    mapping(t.run(t.dma.mapSingle(ra, PAGE, "bidirectional")));
    expect(t.run(t.dma.sync(ra, PAGE, true))).toBe(HV.EOK);
    expect(t.run(t.dma.sync(ra, PAGE, false))).toBe(HV.EOK);
    expect(t.run(t.dma.sync(0x7fff_0000 * PAGE, PAGE, true))).not.toBe(HV.EOK);
  });

  test("policyStats is the local policy's; {} without stats", () => {
    const t = booted();
    mapping(t.run(t.dma.mapSingle(t.g.memory.alloc(1), 1, "to-device")));
    expect(t.dma.policyStats()).toMatchObject({ allocatedPages: 1, freePages: 7, allocations: 1 });
    const env = (t.dma as unknown as { env: ConstructorParameters<typeof GuestDmaApi>[0] }).env;
    const bare = { ...env.policy, stats: undefined, addRange() {}, removeRange() {} };
    expect(new GuestDmaApi({ ...env, policy: bare }).policyStats()).toEqual({});
  });

  test("releaseIdleLeases gives back only the leases with nothing mapped", () => {
    const t = booted();
    const ra = t.g.memory.alloc(12);
    const a = mapping(t.run(t.dma.mapSingle(ra, 8 * PAGE, "to-device")));
    mapping(t.run(t.dma.mapSingle(ra, 10 * PAGE, "to-device")));
    t.run(t.dma.unmapSingle(a));
    expect(t.run(t.dma.releaseIdleLeases())).toBe(1);
    t.b.sim.run(t.b.sim.now + 1e8);
    expect(t.dma.heldLeases.map((l) => [l.base, l.npages])).toEqual([[8, 10]]);
    expect(t.dma.stats.leasesHeld).toBe(1);
    expect(t.b.broker.grantsOf(t.g.id, DH)).toEqual([{ base: 8, npages: 10 }]);
    expect(t.run(t.dma.releaseIdleLeases())).toBe(0);
  });

  test("a lease given back while the broker is away is resent until the broker takes it", () => {
    const t = booted();
    const ra = t.g.memory.alloc(10);
    const a = mapping(t.run(t.dma.mapSingle(ra, 8 * PAGE, "to-device")));
    const b = mapping(t.run(t.dma.mapSingle(ra, 10 * PAGE, "to-device")));
    t.run(t.dma.unmapSingle(b));
    expect(b.index).toBe(8);
    t.b.broker.crash();
    t.b.sim.spawn(t.dma.releaseIdleLeases());
    t.b.sim.run(t.b.sim.now + 2e7); // past every usual retry
    t.b.broker.restart();
    t.b.sim.run(t.b.sim.now + 1e8);
    expect(t.b.broker.grantsOf(t.g.id, DH)).toEqual([{ base: 0, npages: 8 }]);
    expect(a.index).toBe(0);
  });

  test("with leaseIdleNs a lease idle that long goes back by itself", () => {
    const t = booted({ guestDma: { leaseIdleNs: 1e6 } });
    const m = mapping(t.run(t.dma.mapSingle(t.g.memory.alloc(1), 1, "to-device")));
    t.run(t.dma.unmapSingle(m), 1e5);
    expect(t.dma.heldLeases.length).toBe(1);
    t.b.sim.run(t.b.sim.now + 1e8);
    expect(t.dma.heldLeases).toEqual([]);
    expect(t.b.broker.grantsOf(t.g.id, DH)).toEqual([]);
    expect(t.dma.stats.leasesHeld).toBe(0);
  });

  test("accounting names the domain, the devhandle, the policy and the locks", () => {
    const t = booted();
    const a = t.dma.accounting;
    expect([a.domain, a.devhandle, a.locks.includes(t.dma.flushLock)]).toEqual([t.g.id, DH, true]);
    expect(t.dma.flushLock.name).toBe("g1:dma-flush");
  });
});

describe("time on the guest's vCPU", () => {
  /** A machine whose local policies report nothing: each policy call costs one 'call' unit. */
  function plain(
    guestDma: Record<string, unknown> = {},
    maxTtesPerCall = 1024,
    costs: Record<string, number> = {},
  ) {
    const sim = new Simulator();
    const cost = parseCostModel(costs);
    const platform = new Platform({
      md: smallMachine({ guests: 1, windowPages: 64, maxTtesPerCall }),
      cost,
      seed: 1,
      sim,
      globalPolicy: (_dh, w) => new FirstFitPolicy(w),
      localPolicy: (_g, _dh, w) => checkLocalPolicy("bitmap", new BitmapNextFitPolicy(w), w),
      guestDma: { leasePages: 8, ...guestDma },
    });
    const g = platform.guests[0]!;
    runProc({ sim }, g.link.handshake());
    const dma = g.dma.get(DH)!;
    /** Runs `p` on vCPU 1 from now; returns its result, its duration and vCPU 1's busy time. */
    const timed = <T>(p: Proc<T>) => {
      const t0 = sim.now;
      const busy0 = g.cpu.vcpuBusyNs(1);
      let end = -1;
      const proc = sim.spawn(p);
      proc.done.onTrigger(() => {
        end = sim.now;
      });
      sim.run(t0 + 1e9);
      return { value: proc.done.value as T, dt: end - t0, busy: g.cpu.vcpuBusyNs(1) - busy0 };
    };
    return { sim, cost, platform, hv: platform.hv, g, dma, timed, call: cost.policyCallNs };
  }

  test("a map inside a held lease: bookkeeping, one policy call and the map hypercall, all on the vCPU", () => {
    const t = plain({}, 2);
    const ra = t.g.memory.alloc(4);
    mapping(t.timed(t.dma.mapSingle(ra, 1, "to-device", 1)).value);
    const m = t.timed(t.dma.mapSingle(ra + PAGE, 2 * PAGE, "to-device", 1));
    mapping(m.value);
    const want = t.cost.dmaApiCpuNs + t.call + t.hv.lastCostNs;
    expect([m.dt, m.busy]).toEqual([want, want]);
    const u = t.timed(t.dma.unmapSingle(mapping(m.value), 1));
    const unwant = t.cost.dmaApiCpuNs + t.hv.lastCostNs + t.call;
    expect([u.dt, u.busy]).toEqual([unwant, unwant]);
  });

  test("a map in partial batches pays every call; a failed map pays its demap too", () => {
    const t = plain({}, 2);
    const ra = t.g.memory.alloc(4);
    mapping(t.timed(t.dma.mapSingle(ra, 1, "to-device", 1)).value);
    const m = t.timed(
      t.dma.mapSg(
        [
          { ra, len: 2 * PAGE },
          { ra: 0x7fff_0000 * PAGE, len: 1 },
        ],
        "to-device",
        1,
      ),
    );
    expect(isDmaFailure(m.value)).toBe(true);
    expect(m.dt).toBe(m.busy);
    // bookkeeping, the alloc and the free calls, two map calls and the demap of what the first mapped
    expect(t.dma.stats).toMatchObject({ mapCalls: 3, demapCalls: 1 });
    expect(m.dt).toBeGreaterThan(t.cost.dmaApiCpuNs + 2 * t.call + 3 * t.cost.hcallTrapNs);
  });

  test("a deferred unmap costs only bookkeeping; the flush pays the demaps and the frees", () => {
    const t = plain({ unmap: "deferred", deferredMaxEntries: 2, deferredMaxNs: 1e9 });
    const ra = t.g.memory.alloc(4);
    const a = mapping(t.timed(t.dma.mapSingle(ra, 1, "to-device", 1)).value);
    const b = mapping(t.timed(t.dma.mapSingle(ra + PAGE, 1, "to-device", 1)).value);
    const u = t.timed(t.dma.unmapSingle(a, 1));
    expect([u.dt, u.busy]).toEqual([t.cost.dmaApiCpuNs, t.cost.dmaApiCpuNs]);
    const f = t.timed(t.dma.unmapSingle(b, 1));
    // one demap call for the two adjacent entries, then two policy frees
    const want = t.cost.dmaApiCpuNs + t.hv.lastCostNs + 2 * t.call;
    expect([f.dt, f.busy, t.dma.stats.demapCalls]).toEqual([want, want, 1]);
    expect(t.dma.flushLock.stats.acquisitions).toBe(1);
  });

  test("a lease given back first charges the policy's calls on vCPU 0, then the round trip", () => {
    const t = plain();
    const ra = t.g.memory.alloc(8);
    const m = mapping(t.timed(t.dma.mapSingle(ra, 8 * PAGE, "to-device", 1)).value);
    t.timed(t.dma.unmapSingle(m, 1));
    const busy0 = t.g.cpu.vcpuBusyNs(0);
    const r = t.timed(t.dma.releaseIdleLeases());
    expect(r.value).toBe(1);
    // removeRange's call, then the release sent and its ack received on vCPU 0
    expect(t.g.cpu.vcpuBusyNs(0) - busy0).toBe(t.call + t.cost.ldcSendCpuNs + t.cost.ldcRecvCpuNs);
    expect(t.platform.broker.grantsOf(t.g.id, DH)).toEqual([]);
  });

  test("a map that outgrows its lease holds the vCPU for the policy's refused alloc before asking the broker", () => {
    const t = plain();
    const ra = t.g.memory.alloc(9);
    mapping(t.timed(t.dma.mapSingle(ra, 1, "to-device", 1)).value); // a lease of 8, 1 page used
    const sent = t.g.link.stats.sent;
    let askedAt = -1;
    const t0 = t.sim.now;
    t.sim.spawn(
      (function* () {
        while (t.g.link.stats.sent === sent) yield 1;
        askedAt = t.sim.now;
      })(),
    );
    const m = t.timed(t.dma.mapSingle(ra + PAGE, 8 * PAGE, "to-device", 1));
    expect([mapping(m.value).index, t.dma.stats.negotiations]).toEqual([1, 2]); // a second lease, next to the first
    // The request leaves once the refused alloc's call is over on the vCPU.
    expect(askedAt - t0).toBe(t.call);
    // Refused alloc; request and reply; addRange and the alloc; bookkeeping; the map hypercall.
    const hcall = t.hv.lastCostNs;
    const want =
      3 * t.call + t.cost.ldcSendCpuNs + t.cost.ldcRecvCpuNs + t.cost.dmaApiCpuNs + hcall;
    expect(m.busy).toBe(want);
  });

  test("no wait of 0 ns: a map spends no kernel event on a wait of nothing", () => {
    /** `p`, counting the waits of 0 ns it yields (each would be a kernel event of its own). */
    function* zeroWaits<T>(p: Proc<T>, zeros: number[]): Proc<T> {
      let r = p.next();
      while (r.done !== true) {
        if (r.value === 0) zeros.push(0);
        r = p.next(yield r.value);
      }
      return r.value;
    }
    const zeros: number[] = [];
    // Per-map, a grant and a refusal, with no DMA-API bookkeeping time to wait for after either.
    const perMap = plain({ acquire: "per-map", leasePages: 4 }, 1024, { dmaApiCpuNs: 0 });
    const ra = perMap.g.memory.alloc(8);
    mapping(perMap.timed(zeroWaits(perMap.dma.mapSingle(ra, PAGE, "to-device", 1), zeros)).value);
    const big = perMap.timed(zeroWaits(perMap.dma.mapSingle(ra, 65 * PAGE, "to-device", 1), zeros));
    expect(big.value).toEqual({ error: "nack:bad-npages" });
    // A lease too small while vCPU 0 holds the local policy's lock: the refused alloc waits for it.
    const t = plain();
    const ra2 = t.g.memory.alloc(9);
    mapping(t.timed(t.dma.mapSingle(ra2, 1, "to-device", 1)).value);
    const lock = t.dma.accounting.locks.find((l) => l.name.endsWith(":policy"))!;
    t.sim.spawn(
      (function* () {
        expect(lock.tryAcquire()).toBe(true);
        yield 500;
        lock.release();
      })(),
    );
    const m = t.timed(zeroWaits(t.dma.mapSingle(ra2 + PAGE, 8 * PAGE, "to-device", 1), zeros));
    expect([mapping(m.value).index, t.dma.stats.negotiations]).toEqual([1, 2]); // a second lease, next to the first
    expect(lock.stats).toMatchObject({ contended: 1, waitNs: 500 });
    expect(zeros).toEqual([]);
  });

  test("sync holds the vCPU for the hypercall's cost", () => {
    const t = plain();
    const ra = t.g.memory.alloc(1);
    mapping(t.timed(t.dma.mapSingle(ra, PAGE, "bidirectional", 1)).value);
    const s = t.timed(t.dma.sync(ra, PAGE, true, 1));
    expect([s.value, s.dt, s.busy]).toEqual([HV.EOK, t.hv.lastCostNs, t.hv.lastCostNs]);
  });
});

describe("background threads", () => {
  /** `t`'s DMA API again, on a link that answers grants as the broker does and fails on a release. */
  function failingRelease(t: ReturnType<typeof booted>, opts: Record<string, unknown> = {}) {
    const env = (t.dma as unknown as { env: ConstructorParameters<typeof GuestDmaApi>[0] }).env;
    const link: BrokerLink = {
      handshake: () => env.link.handshake(),
      *ask(m: Message, persistent?: boolean, cpu?: number) {
        if (m.kind === Msg.DVMA_RELEASE) throw new Error("link down");
        return yield* env.link.ask(m, persistent, cpu);
      },
    };
    return new GuestDmaApi({ ...env, link }, { leasePages: 8, ...opts });
  }

  test("a per-map release does not wait for vCPU 0 when there is no policy call to charge", () => {
    const t = booted({ guestDma: { acquire: "per-map" } });
    const m = mapping(t.run(t.dma.mapSingle(t.g.memory.alloc(1), 1, "to-device", 1)));
    const cpu = t.g.cpu;
    const t0 = t.b.sim.now;
    t.b.sim.spawn(
      (function* () {
        const v = yield* cpu.take(0); // vCPU 0 busy for 1 ms
        yield 1e6;
        cpu.free(v);
      })(),
    );
    const sent = t.g.link.stats.sent;
    t.b.sim.spawn(t.dma.unmapSingle(m, 1));
    t.b.sim.run(t0 + 1e5);
    // The release went out at once and the broker has taken the range back, vCPU 0 still busy.
    expect(t.g.link.stats.sent).toBe(sent + 1);
    expect(t.b.broker.grantsOf(t.g.id, DH)).toEqual([]);
  });

  test("a per-map release that fails names its thread", () => {
    const t = booted();
    const api = failingRelease(t, { acquire: "per-map" });
    const m = mapping(t.run(api.mapSingle(t.g.memory.alloc(1), 1, "to-device")));
    t.b.sim.spawn(api.unmapSingle(m));
    expect(() => t.b.sim.run(t.b.sim.now + 1e8)).toThrow('process "dvma-release" failed');
  });

  test("an idle lease's release that fails names its thread", () => {
    const t = booted();
    const api = failingRelease(t, { leaseIdleNs: 1e6 });
    const m = mapping(t.run(api.mapSingle(t.g.memory.alloc(1), 1, "to-device")));
    t.b.sim.spawn(api.unmapSingle(m));
    expect(() => t.b.sim.run(t.b.sim.now + 1e8)).toThrow('process "lease-release" failed');
  });

  test("a timer's flush that fails names its thread", () => {
    const t = booted();
    const env = (t.dma as unknown as { env: ConstructorParameters<typeof GuestDmaApi>[0] }).env;
    const policy = Object.assign(Object.create(env.policy), {
      free() {
        throw new Error("policy broken");
      },
    });
    const api = new GuestDmaApi(
      { ...env, policy },
      { leasePages: 8, unmap: "deferred", deferredMaxNs: 1e6 },
    );
    const m = mapping(t.run(api.mapSingle(t.g.memory.alloc(1), 1, "to-device")));
    t.b.sim.spawn(api.unmapSingle(m));
    expect(() => t.b.sim.run(t.b.sim.now + 1e8)).toThrow('process "dma-flush-timer" failed');
  });
});

describe("unmapping in a completion interrupt's handler", () => {
  test("a strict unmap in two steps: bookkeeping and demap from a time, then the DVMA back", () => {
    const t = booted();
    const cost = t.b.platform.cfg.cost;
    const ra = t.g.memory.alloc(1);
    const m = mapping(t.run(t.dma.mapSingle(ra, 1, "to-device")));
    const c = t.dma.completion(m)!;
    expect(c.done).toBe(false);
    const at = t.b.sim.now + 5;
    const end = c.work(at);
    expect(end).toBe(at + cost.dmaApiCpuNs + t.b.hv.lastCostNs);
    expect([t.valid(), t.dma.stats.demapCalls, t.dma.stats.unmaps, c.done]).toEqual([
      0,
      1,
      1,
      false,
    ]);
    const cpu = t.g.cpu;
    const v = t.run(
      (function* () {
        const v = yield* cpu.take(1);
        const after = yield* c.finish(v);
        cpu.free(after);
        return after;
      })(),
    );
    expect([v, c.done]).toEqual([1, true]);
    // The page went back: the lease has nothing mapped, so it is idle and goes back too.
    expect(t.run(t.dma.releaseIdleLeases())).toBe(1);
    const deferred = booted({ guestDma: { unmap: "deferred" } });
    expect(deferred.dma.completion(m)).toBe(null);
  });
});
