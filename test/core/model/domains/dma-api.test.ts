import { describe, expect, test } from "bun:test";
import { type DmaMapping, isDmaFailure } from "../../../../core/model/domains/guest-dma-types.ts";
import { invariantViolations } from "../../../../core/model/domains/invariants.ts";
import { encode, Msg, message } from "../../../../core/model/domains/protocol.ts";
import { quiescentViolations } from "../../../../core/model/hv/invariants.ts";
import { LDC_PACKET_SIZE } from "../../../../core/model/hv/ldc.ts";
import { DmaFault } from "../../../../core/model/iommu/iommu.ts";
import { bootSmall, runProc } from "../../../helpers/platform.ts";

const DH = 0x200;

function booted(opts: Parameters<typeof bootSmall>[0] = {}) {
  const b = bootSmall({ ...opts, guestDma: { leasePages: 8, ...opts.guestDma } });
  for (const g of b.platform.guests) expect(runProc(b, g.link.handshake())).toBe(true);
  return b;
}

function buffer(b: ReturnType<typeof bootSmall>, guest: number, pages: number) {
  return b.platform.guests[guest - 1]!.memory.alloc(pages);
}

describe("guest DMA API over the broker", () => {
  test("lease mode: one negotiation serves many maps; strict unmap makes the old DVMA fault", () => {
    const b = booted();
    const dma = b.platform.guests[0]!.dma.get(DH)!;
    const ra = buffer(b, 1, 2);
    const m1 = runProc(b, dma.mapSingle(ra, 100, "from-device")) as DmaMapping;
    const m2 = runProc(b, dma.mapSingle(ra + 8192, 8192, "from-device")) as DmaMapping;
    expect(isDmaFailure(m1) || isDmaFailure(m2)).toBe(false);
    expect(dma.stats.negotiations).toBe(1);
    expect(b.broker.grantsOf(1, DH)).toEqual([{ base: 0, npages: 8 }]);
    expect(runProc(b, b.ports[0]!.dma(m1.dvma, 100, true, 42))).toBe(DmaFault.none);
    const pa = b.hv.domains[1]!.mem.paPageOf(ra);
    expect(b.hv.memory.content[pa]).toBe(42);
    runProc(b, dma.unmapSingle(m1));
    expect(runProc(b, b.ports[0]!.dma(m1.dvma, 100, true, 43))).toBe(DmaFault.noTranslation);
    expect(b.hv.memory.content[pa]).toBe(42);
    expect(invariantViolations(b.hv, b.broker)).toEqual([]);
  });

  test("per-map mode: every mapping is a grant, released after unmap", () => {
    const b = booted({ guestDma: { acquire: "per-map" } });
    const dma = b.platform.guests[0]!.dma.get(DH)!;
    const ra = buffer(b, 1, 4);
    const m = runProc(b, dma.mapSingle(ra, 3 * 8192, "to-device")) as DmaMapping;
    expect(m.npages).toBe(3);
    expect(b.broker.grantsOf(1, DH)).toEqual([{ base: m.index, npages: 3 }]);
    runProc(b, dma.unmapSingle(m));
    b.sim.run(b.sim.now + 1e8); // the release round trip
    expect(b.broker.grantsOf(1, DH)).toEqual([]);
    expect(b.hv.iommus.get(DH)!.entryOwner.every((o) => o === -1)).toBe(true);
    expect(invariantViolations(b.hv, b.broker)).toEqual([]);
  });

  test("deferred unmap leaves the TTE usable until the batch is flushed (the known window of exposure)", () => {
    const b = booted({
      guestDma: { unmap: "deferred", deferredMaxEntries: 4, deferredMaxNs: 1_000_000 },
    });
    const dma = b.platform.guests[0]!.dma.get(DH)!;
    const ra = buffer(b, 1, 1);
    const m = runProc(b, dma.mapSingle(ra, 64, "from-device")) as DmaMapping;
    const t = b.sim.now;
    b.sim.spawn(dma.unmapSingle(m), "unmap");
    b.sim.run(t + 10_000);
    expect(runProc(b, b.ports[0]!.dma(m.dvma, 64, true, 1), 50_000)).toBe(DmaFault.none);
    b.sim.run(b.sim.now + 2_000_000); // past deferredMaxNs
    expect(runProc(b, b.ports[0]!.dma(m.dvma, 64, true, 2))).toBe(DmaFault.noTranslation);
    expect(dma.stats.deferredFlushes).toBe(1);
  });

  test("partial map completion is finished by the API's loop; large maps are batched by 1024", () => {
    const b = booted({ maxTtesPerCall: 3, windowPages: 4096, guestDma: { leasePages: 2048 } });
    const dma = b.platform.guests[0]!.dma.get(DH)!;
    const ra = buffer(b, 1, 10);
    const before = dma.stats.mapCalls;
    const m = runProc(b, dma.mapSingle(ra, 10 * 8192, "bidirectional")) as DmaMapping;
    expect(dma.stats.mapCalls - before).toBe(4);
    expect(b.hv.iommus.get(DH)!.iotsb.valid).toBe(10);
    runProc(b, dma.unmapSingle(m));
    const big = bootSmall({ windowPages: 4096, guestMiB: 32, guestDma: { leasePages: 2048 } });
    runProc(big, big.platform.guests[0]!.link.handshake());
    const d2 = big.platform.guests[0]!.dma.get(DH)!;
    const r2 = big.platform.guests[0]!.memory.alloc(2000);
    const m2 = runProc(big, d2.mapSingle(r2, 2000 * 8192, "to-device")) as DmaMapping;
    expect(m2.npages).toBe(2000);
    expect(d2.stats.mapCalls).toBe(2); // 1024 + 976: one page list per call
  });

  test("mapSg maps segments into one contiguous DVMA range in order", () => {
    const b = booted();
    const dma = b.platform.guests[0]!.dma.get(DH)!;
    const a = buffer(b, 1, 1);
    const c = buffer(b, 1, 3);
    const m = runProc(
      b,
      dma.mapSg(
        [
          { ra: a, len: 8192 },
          { ra: c + 8192, len: 8192 },
        ],
        "from-device",
      ),
    ) as DmaMapping;
    expect(m.npages).toBe(2);
    expect(runProc(b, b.ports[0]!.dma(m.dvma, 2 * 8192, true, 100))).toBe(0);
    const mem = b.hv.domains[1]!.mem;
    expect(b.hv.memory.content[mem.paPageOf(a)]).toBe(100);
    expect(b.hv.memory.content[mem.paPageOf(c + 8192)]).toBe(101);
    expect(b.hv.memory.content[mem.paPageOf(c)]).toBe(0);
  });

  test("allocCoherent gives zeroed, mapped memory; sync validates the range", () => {
    const b = booted();
    const dma = b.platform.guests[0]!.dma.get(DH)!;
    const c = runProc(b, dma.allocCoherent(3 * 8192));
    if (isDmaFailure(c)) throw new Error(c.error);
    expect(c.mapping.attrs).toBe(3);
    expect(runProc(b, dma.sync(c.ra, 100, true))).toBe(0);
    expect(runProc(b, dma.sync(0x10, 100, true))).toBe(2); // ENORADDR
    runProc(b, dma.freeCoherent(c));
  });
});

describe("broker", () => {
  test("a guest's death revokes everything it held; once all guests are gone the window is empty", () => {
    const b = booted();
    for (const g of b.platform.guests) {
      const dma = g.dma.get(DH)!;
      runProc(b, dma.mapSingle(g.memory.alloc(1), 8192, "from-device"));
    }
    b.hv.killDomain(1, "test");
    expect(b.broker.grantsOf(1, DH)).toEqual([]);
    expect(invariantViolations(b.hv, b.broker)).toEqual([]);
    expect(runProc(b, b.ports[0]!.dma(0x8000_0000, 64, true, 1))).toBe(DmaFault.deviceReset);
    b.hv.killDomain(2, "test");
    expect(quiescentViolations(b.hv)).toEqual([]);
  });

  test("a restarted broker rebuilds its ledger from the hypervisor and keeps grants disjoint", () => {
    const b = booted();
    const [g1, g2] = b.platform.guests;
    runProc(b, g1!.dma.get(DH)!.mapSingle(g1!.memory.alloc(1), 8192, "from-device"));
    runProc(b, g2!.dma.get(DH)!.mapSingle(g2!.memory.alloc(1), 8192, "from-device"));
    const before = [b.broker.grantsOf(1, DH), b.broker.grantsOf(2, DH)].map((x) =>
      x.map((r) => ({ ...r })),
    );
    b.broker.crash();
    // A request while the broker is down times out and is resent after the restart.
    const proc = b.sim.spawn(
      g1!.dma.get(DH)!.mapSingle(g1!.memory.alloc(9), 9 * 8192, "from-device"),
      "late",
    );
    b.sim.run(b.sim.now + 1_500_000);
    b.broker.restart();
    b.sim.run(b.sim.now + 1e9);
    expect(proc.finished).toBe(true);
    expect(isDmaFailure(proc.done.value!)).toBe(false);
    expect(b.broker.grantsOf(2, DH)).toEqual(before[1]!);
    expect(b.broker.stats.restarts).toBe(1);
    expect(invariantViolations(b.hv, b.broker)).toEqual([]);
  });

  test("version mismatch is nacked; malformed packets are ignored and counted", () => {
    const b = booted();
    const g = b.platform.guests[0]!;
    let got = -1;
    g.channel.onReceive(g.id, (p) => {
      got = p[0]!;
    });
    g.channel.send(g.id, encode(message(Msg.VER_INFO, { id: 77, major: 9 })));
    b.sim.run(b.sim.now + 1e6);
    expect(got).toBe(Msg.VER_NACK);
    const junk = new Uint8Array(LDC_PACKET_SIZE).fill(0xff);
    g.channel.send(g.id, junk);
    b.sim.run(b.sim.now + 1e6);
    expect(b.broker.stats.invalid).toBe(1);
  });

  test("lost LDC packets are resent with the same id; no grant leaks", () => {
    const b = bootSmall({
      lossRate: 0.3,
      seed: 7,
      guestDma: { acquire: "per-map" },
      cost: { ldcTimeoutNs: 50_000, ldcRetries: 20 },
    });
    const g = b.platform.guests[0]!;
    expect(runProc(b, g.link.handshake())).toBe(true);
    const dma = g.dma.get(DH)!;
    for (let i = 0; i < 30; i++) {
      const m = runProc(b, dma.mapSingle(g.memory.alloc(1), 100, "from-device"));
      if (isDmaFailure(m)) throw new Error(m.error);
      runProc(b, dma.unmapSingle(m));
    }
    b.sim.run(b.sim.now + 1e9);
    expect(g.link.stats.timeouts).toBeGreaterThan(0);
    expect(b.broker.stats.replays).toBeGreaterThan(0);
    expect(b.broker.grantsOf(1, DH)).toEqual([]);
    expect(invariantViolations(b.hv, b.broker)).toEqual([]);
  });
});
