import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  type DmaDirection,
  type DmaFailure,
  type DmaMapping,
  isDmaFailure,
} from "../../../../core/model/domains/guest-dma-types.ts";
import { heldGrants, invariantViolations } from "../../../../core/model/domains/invariants.ts";
import { RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import { DmaFault } from "../../../../core/model/iommu/iommu.ts";
import type { Proc } from "../../../../core/model/sim/kernel.ts";
import { bootSmall, runProc } from "../../../helpers/platform.ts";

/** Model-based properties of the guest DMA API (fast-check; seed from test/helpers/fc.ts). */

const DH = 0x200;
const PAGE = 8192;
const GUEST_MIB = 8;
/** An RA just past the guest's memory: a page list naming it is refused (ENORADDR). */
const OUTSIDE = RA_BASE + GUEST_MIB * 1024 * 1024;

function booted(opts: Parameters<typeof bootSmall>[0]) {
  const b = bootSmall({ guestMiB: GUEST_MIB, ...opts });
  // With LDC loss a handshake may time out: a guest tries again, as a real one would.
  for (const g of b.platform.guests)
    for (let k = 0; !runProc(b, g.link.handshake()); k++) expect(k).toBeLessThan(20);
  return b;
}

describe("buffer geometry and rights", () => {
  test("pages spanned, the RA's page offset kept, to-device is read-only, one byte past the end faults", () => {
    const dirs: DmaDirection[] = ["to-device", "from-device", "bidirectional"];
    let readOnly = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: PAGE - 1 }),
        fc.integer({ min: 1, max: 6 * PAGE }),
        fc.constantFrom(...dirs),
        fc.integer({ min: 1, max: 8 }),
        (off, len, dir, limit) => {
          const b = booted({
            guests: 1,
            windowPages: 64,
            maxTtesPerCall: limit,
            guestDma: { leasePages: 16 },
          });
          const g = b.platform.guests[0]!;
          const ra = g.memory.alloc(8) + off;
          const m = runProc(b, g.dma.get(DH)!.mapSingle(ra, len, dir));
          if (isDmaFailure(m)) throw new Error(`map failed: ${m.error}`);
          expect(m.npages).toBe(Math.floor((off + len - 1) / PAGE) + 1);
          expect(m.dvma % PAGE).toBe(ra % PAGE);
          expect(m.len).toBe(len);
          const port = b.ports[0]!;
          const dma = (at: number, n: number, write: boolean) =>
            runProc(b, port.dma(at, n, write, 5), 1e8);
          expect(dma(m.dvma, len, false)).toBe(DmaFault.none);
          if (dir === "to-device") {
            readOnly++;
            expect(dma(m.dvma, len, true)).toBe(DmaFault.protection);
          } else expect(dma(m.dvma, len, true)).toBe(DmaFault.none);
          // The IOMMU sees 8 KiB pages: the first byte after the mapping's last page faults, and
          // so does a transfer one byte longer than the buffer when the buffer ends on a page.
          const end = m.dvma - off + m.npages * PAGE;
          expect(dma(end, 1, false)).toBe(DmaFault.noTranslation);
          const over = dma(m.dvma, len + 1, false);
          if ((off + len) % PAGE === 0) expect(over).toBe(DmaFault.noTranslation);
          else expect(over).toBe(DmaFault.none);
        },
      ),
      { numRuns: 150 },
    );
    expect(readOnly).toBeGreaterThan(20);
  }, 60_000);
});

describe("failed and strict mappings leave nothing mapped behind, for any per-call limit", () => {
  test("after a failed mapSingle/mapSg every valid TTE is accounted for; after a strict unmap none of its entries is valid", () => {
    const seen = { failedAfterPartial: 0, strictUnmaps: 0 };
    const op = fc.oneof(
      fc.record({ op: fc.constant("map" as const), pages: fc.integer({ min: 1, max: 12 }) }),
      fc.record({
        op: fc.constant("bad-sg" as const),
        segs: fc.integer({ min: 1, max: 12 }),
        bad: fc.nat(),
      }),
      fc.record({ op: fc.constant("unmap" as const), k: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom("strict" as const, "deferred" as const),
        fc.constantFrom("lease" as const, "per-map" as const),
        fc.array(op, { minLength: 1, maxLength: 25 }),
        (limit, unmap, acquire, ops) => {
          const b = booted({
            guests: 1,
            windowPages: 96,
            maxTtesPerCall: limit,
            guestDma: { unmap, acquire, leasePages: 16, deferredMaxEntries: 4 },
          });
          const g = b.platform.guests[0]!;
          const dma = g.dma.get(DH)!;
          const tsb = b.hv.iommus.get(DH)!.iotsb;
          const live: DmaMapping[] = [];
          const check = (after: string) => {
            const v = invariantViolations(b.hv, b.broker, b.platform.dmaApisInUse);
            if (v.length > 0) throw new Error(`after ${after}: ${v.join("; ")}`);
          };
          for (const o of ops) {
            if (o.op === "unmap") {
              if (live.length === 0) continue;
              const [m] = live.splice(o.k % live.length, 1);
              runProc(b, dma.unmapSingle(m!));
              if (unmap === "strict") {
                seen.strictUnmaps++;
                for (let i = m!.index; i < m!.index + m!.npages; i++)
                  expect(tsb.isValid(i)).toBe(false);
              }
              check("unmap");
              continue;
            }
            let r: DmaMapping | DmaFailure;
            if (o.op === "map") {
              const ra = g.memory.alloc(o.pages);
              if (ra < 0) continue;
              r = runProc(b, dma.mapSingle(ra, o.pages * PAGE, "bidirectional"));
            } else {
              const ra = g.memory.alloc(o.segs);
              if (ra < 0) continue;
              const bad = o.bad % o.segs;
              const segs = Array.from({ length: o.segs }, (_, k) => ({
                ra: k === bad ? OUTSIDE : ra + k * PAGE,
                len: PAGE,
              }));
              r = runProc(b, dma.mapSg(segs, "from-device"));
              expect(isDmaFailure(r)).toBe(true);
              if (bad >= limit) seen.failedAfterPartial++;
            }
            if (!isDmaFailure(r)) {
              for (let i = r.index; i < r.index + r.npages; i++) expect(tsb.isValid(i)).toBe(true);
              live.push(r);
            }
            check(o.op);
          }
        },
      ),
      { numRuns: 200 },
    );
    expect(seen.failedAfterPartial).toBeGreaterThan(30);
    expect(seen.strictUnmaps).toBeGreaterThan(50);
  }, 60_000);
});

describe("no DVMA leaks through broker faults", () => {
  test("guest deaths while the broker is down, grants after the guest gave up, more requests than the reply cache: after restart and settling nothing leaks", () => {
    const seen = { gaveUp: 0, burst: 0, deadWhileDown: 0, stray: 0 };
    const op = fc.oneof(
      fc.record({
        op: fc.constant("maps" as const),
        g: fc.integer({ min: 0, max: 2 }),
        count: fc.integer({ min: 1, max: 12 }),
      }),
      fc.record({ op: fc.constant("burst" as const), g: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ op: fc.constant("unmaps" as const), g: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ op: fc.constant("crash" as const) }),
      fc.record({ op: fc.constant("restart" as const) }),
      fc.record({ op: fc.constant("kill" as const), g: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ op: fc.constant("run" as const), ns: fc.integer({ min: 1, max: 400_000 }) }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom("lease" as const, "per-map" as const),
        fc.constantFrom(0, 0.1, 0.3),
        fc.array(op, { minLength: 3, maxLength: 14 }),
        fc.integer({ min: 1, max: 1000 }),
        (acquire, loss, ops, seed) => {
          const b = booted({
            guests: 3,
            windowPages: 2048,
            lossRate: loss,
            seed,
            guestDma: { acquire, leasePages: 8 },
            // Short timeouts and few retries: guests give up while grants are still on their way.
            cost: { ldcTimeoutNs: 30_000, ldcRetries: 2 },
          });
          const { hv, broker, platform, sim } = b;
          const live: DmaMapping[][] = [[], [], []];
          const maps = (g: number, count: number) => {
            const guest = platform.guests[g]!;
            const dma = guest.dma.get(DH)!;
            for (let k = 0; k < count; k++) {
              const ra = guest.memory.alloc(1);
              if (ra < 0) return;
              sim.spawn(
                (function* (): Proc<void> {
                  const m = yield* dma.mapSingle(ra, PAGE, "bidirectional");
                  if (!isDmaFailure(m)) live[g]!.push(m);
                  else if (m.error === "negotiation-timeout") seen.gaveUp++;
                })(),
                "map",
              );
            }
          };
          for (const o of ops) {
            switch (o.op) {
              case "maps":
                if (hv.domains[o.g + 1]!.alive) maps(o.g, o.count);
                break;
              case "burst": // more requests in flight than the broker's reply cache (256) holds
                if (hv.domains[o.g + 1]!.alive && acquire === "per-map") {
                  seen.burst++;
                  maps(o.g, 300);
                }
                break;
              case "unmaps": {
                const dma = platform.guests[o.g]!.dma.get(DH)!;
                for (const m of live[o.g]!.splice(0))
                  if (hv.domains[o.g + 1]!.alive) sim.spawn(dma.unmapSingle(m), "unmap");
                break;
              }
              case "crash":
                // Settled first (every request answered): a crash that loses the broker's memory
                // of a grant whose every reply was lost leaks that grant until the guest dies; the
                // model has no reconciliation after a restart.
                sim.run(sim.now + 50_000_000);
                broker.crash();
                break;
              case "restart":
                if (!broker.isUp) broker.restart();
                break;
              case "kill":
                if (hv.domains[o.g + 1]!.alive) {
                  if (!broker.isUp) seen.deadWhileDown++;
                  hv.killDomain(o.g + 1, "test");
                  live[o.g] = [];
                }
                break;
              case "run":
                sim.run(sim.now + o.ns);
                break;
            }
          }
          // Restart and settle: every request answered or given up, every release acknowledged.
          if (!broker.isUp) broker.restart();
          sim.run(sim.now + 1e9);
          seen.stray += platform.guests.reduce((n, g) => n + g.link.stats.strayGrantsReleased, 0);
          expect(invariantViolations(hv, broker, platform.dmaApisInUse)).toEqual([]);
          const io = hv.iommus.get(DH)!;
          for (let i = 0; i < io.windowPages; i++) {
            const o = io.entryOwner[i]!;
            if (o >= 0 && !hv.domains[o]!.alive)
              throw new Error(`dead domain ${o} owns entry ${i}`);
          }
          for (const g of platform.guests) {
            if (!hv.domains[g.id]!.alive) continue;
            const held = new Set<number>();
            for (const r of heldGrants(g.dma.get(DH)!))
              for (let i = r.base; i < r.base + r.npages; i++) held.add(i);
            const granted = new Set<number>();
            for (const r of broker.grantsOf(g.id, DH))
              for (let i = r.base; i < r.base + r.npages; i++) granted.add(i);
            const missing = [...granted].filter((i) => !held.has(i));
            const extra = [...held].filter((i) => !granted.has(i));
            if (missing.length + extra.length > 0)
              throw new Error(
                `guest ${g.name}: granted but unaccounted ${missing.slice(0, 5)}; held but not granted ${extra.slice(0, 5)}`,
              );
          }
        },
      ),
      { numRuns: 80 },
    );
    expect(seen.gaveUp).toBeGreaterThan(5);
    expect(seen.burst).toBeGreaterThan(5);
    expect(seen.deadWhileDown).toBeGreaterThan(5);
  }, 120_000);
});
