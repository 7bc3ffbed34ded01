import { describe, expect, test } from "bun:test";
import { isDmaFailure } from "../../../../core/model/domains/guest-dma-types.ts";
import { parseCostModel } from "../../../../core/model/machine/parse.ts";
import { bootSmall, runProc } from "../../../helpers/platform.ts";

/**
 * A DMA's data holds its device's own link and, for its share of the time, the root complex's
 * link, which every device under it shares: one transfer's data at a time on each.
 */

const BYTES = 15_750;
const cost = parseCostModel({});
/** Data time on the shared root-complex link and on a device's own link. */
const SHARED_NS = Math.ceil(BYTES / cost.rootComplexBytesPerNs);
const OWN_NS = Math.ceil(BYTES / cost.dmaBytesPerNs);

/** `guests` guests, each with one device and a 2-page buffer mapped for it; DMAs issued at t = 0. */
function reads(guests: number, perDevice: number): number[] {
  const b = bootSmall({ guests, windowPages: 64, guestDma: { leasePages: 8 } });
  const dvmas = b.platform.guests.map((g) => {
    expect(runProc(b, g.link.handshake())).toBe(true);
    const m = runProc(b, g.dma.get(0x200)!.mapSingle(g.memory.alloc(2), BYTES, "to-device"));
    if (isDmaFailure(m)) throw new Error(m.error);
    return m.dvma;
  });
  // Warm the IOTLB so every transfer has the same latency.
  for (const [i, p] of b.ports.entries()) runProc(b, p.dma(dvmas[i]!, BYTES, false, 0));
  const t0 = b.sim.now;
  const ends: number[] = [];
  b.ports.forEach((p, i) => {
    for (let k = 0; k < perDevice; k++)
      b.sim.spawn(
        (function* () {
          expect(yield* p.dma(dvmas[i]!, BYTES, false, 0)).toBe(0);
          ends.push(b.sim.now - t0);
        })(),
      );
  });
  b.sim.run(b.sim.now + 1e6);
  return ends;
}

describe("DevicePort: links carry one transfer's data at a time", () => {
  const latency = cost.dmaSetupNs + cost.iotlbHitNs;

  test("the root complex's link is shared: three devices reading at once, the third waits for two shares", () => {
    expect(3 * SHARED_NS).toBeGreaterThan(OWN_NS); // the shared link binds for the third
    expect(reads(3, 1)).toEqual([latency + OWN_NS, latency + OWN_NS, latency + 3 * SHARED_NS]);
  });

  test("a device's own link: its transfers issued at once follow one another", () => {
    expect(reads(1, 3)).toEqual([latency + OWN_NS, latency + 2 * OWN_NS, latency + 3 * OWN_NS]);
  });
});
