// A machine whose control domain has a device of its own (its drivers on the service-domain path
// use the same broker and window as the guests), and two guests on lossy LDC channels: the
// platform's wiring that the small test machine never reaches.
import { describe, expect, test } from "bun:test";
import { isDmaFailure } from "../../../../core/model/domains/guest-dma-types.ts";
import { Platform } from "../../../../core/model/domains/platform.ts";
import { encode, Msg, message } from "../../../../core/model/domains/protocol.ts";
import { parseCostModel, parseMachine } from "../../../../core/model/machine/parse.ts";
import { fnv1a32, Rng } from "../../../../core/model/sim/rng.ts";
import { BitmapNextFitPolicy } from "../../../../plugins/policies/bitmap-next-fit.ts";
import { FirstFitPolicy } from "../../../../plugins/policies/first-fit.ts";
import { runProc } from "../../../helpers/platform.ts";
import { WINDOW_BASE } from "../../../helpers/small-machine.ts";

const DH = 0x200;
const PAGE = 8192;

/** Control domain with device "nic0", guests g1 and g2 with a device each, one root complex. */
function boot(lossRate = 0) {
  const md = parseMachine({
    rootComplexes: [{ devhandle: DH, virtualDma: { base: WINDOW_BASE, size: 64 * PAGE } }],
    domains: [
      { name: "primary", role: "control", memoryMiB: 16 },
      { name: "g1", memoryMiB: 8, strands: 2 },
      { name: "g2", memoryMiB: 8, strands: 2 },
    ],
    devices: [
      { name: "nic0", devhandle: DH, requesterId: 0x100, domain: "primary" },
      { name: "dev1", devhandle: DH, requesterId: 0x108, domain: "g1" },
      { name: "dev2", devhandle: DH, requesterId: 0x110, domain: "g2" },
    ],
  });
  return new Platform({
    md,
    cost: parseCostModel({}),
    seed: 1,
    globalPolicy: (_dh, w) => new FirstFitPolicy(w),
    localPolicy: (_g, _dh, w) => new BitmapNextFitPolicy(w),
    guestDma: { leasePages: 8 },
    ldc: { lossRate },
  });
}

describe("the control domain's own device", () => {
  test("its DMA API maps at the window's base, through the broker's own ledger", () => {
    const p = boot();
    const c = p.control;
    expect([...c.dma.keys()]).toEqual([DH]);
    const dma = c.dma.get(DH)!;
    const ra = c.memory.alloc(2);
    const m = runProc(p, dma.mapSingle(ra + 100, PAGE, "to-device"));
    if (isDmaFailure(m)) throw new Error(m.error);
    // The lease the broker granted starts at the window's first page; the RA's offset is kept.
    expect([m.dvma, m.index, m.npages]).toEqual([WINDOW_BASE + 100, 0, 2]);
    expect(p.hv.iommus.get(DH)!.iotsb.valid).toBe(2);
    runProc(p, dma.unmapSingle(m));
    expect(runProc(p, dma.releaseIdleLeases())).toBe(1);
    // The release named the lease by its DVMA, so the broker's ledger is empty again: a guest
    // can now be granted the same first pages.
    const g = p.guests[0]!;
    expect(runProc(p, g.link.handshake())).toBe(true);
    const gm = runProc(p, g.dma.get(DH)!.mapSingle(g.memory.alloc(1), PAGE, "to-device"));
    if (isDmaFailure(gm)) throw new Error(gm.error);
    expect(gm.dvma).toBe(WINDOW_BASE);
  });

  test("once used, the control domain's DMA API counts among those in use, after the guests'", () => {
    const p = boot();
    // Compared by identity (a diff of whole APIs would print the machine).
    const same = (xs: readonly object[], ys: readonly object[]) =>
      xs.length === ys.length && xs.every((x, i) => x === ys[i]);
    const guests = p.guests.map((g) => g.dma.get(DH)!);
    expect(same(p.dmaApisInUse, guests)).toBe(true);
    const own = p.control.dma.get(DH)!;
    expect(same(p.dmaApisInUse, [...guests, own])).toBe(true);
  });
});

describe("LDC loss", () => {
  test("each guest's channel loses packets from its own stream, named for the guest", () => {
    const p = boot(0.5);
    const pkt = () => encode(message(Msg.VER_INFO, { id: 1 }));
    const lost: Record<string, boolean[]> = { g1: [], g2: [] };
    for (let i = 0; i < 24; i++)
      for (const g of p.guests) {
        const before = g.channel.dropped;
        g.channel.send(g.id, pkt());
        lost[g.name]!.push(g.channel.dropped > before);
      }
    // Interleaved sends on the two channels do not disturb each other's draws.
    for (const name of ["g1", "g2"]) {
      const rng = new Rng(1, fnv1a32(`ldc/${name}`));
      expect(lost[name]).toEqual(Array.from({ length: 24 }, () => rng.chance(0.5)));
    }
    expect(lost.g1).not.toEqual(lost.g2);
  });
});
