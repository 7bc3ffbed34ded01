import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Hypervisor, RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import { hypervisorViolations } from "../../../../core/model/hv/invariants.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { DmaFault } from "../../../../core/model/iommu/iommu.ts";
import { IO_ATTR_READ, IO_ATTR_WRITE } from "../../../../core/model/iommu/iotsb.ts";
import { parseCostModel } from "../../../../core/model/machine/parse.ts";
import { smallMachine, WINDOW_BASE, writeList } from "../../../helpers/small-machine.ts";

/**
 * Model-based property test of the hypervisor's safety rules: random sequences of grants, maps,
 * demaps, device DMAs, revokes and guest deaths, each checked against a reference model of who
 * owns what and which TTE says what, and the invariants checked after every step.
 */

const DH = 0x200;
const WIN = 16;
const GUESTS = 3;
const LIST = RA_BASE;

const guest = fc.integer({ min: 1, max: GUESTS });
// Most operations aim at something that exists (an own entry, a live TTE); the rest hit anywhere.
const aim = fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, fc.constant(false));
const entry = fc.integer({ min: -2, max: WIN + 2 });
const count = fc.integer({ min: 0, max: 6 });
// Mostly well-formed requests, so that maps succeed and DMAs hit live TTEs often enough.
const raPick = fc.record({
  kind: fc.oneof(
    { arbitrary: fc.constant("own"), weight: 40 },
    fc.constantFrom("other", "garbage", "misaligned"),
  ),
  page: fc.integer({ min: 16, max: 1023 }),
});
const op = fc.oneof(
  {
    arbitrary: fc.record({ op: fc.constant("grant" as const), guest, start: entry, n: count }),
    weight: 2,
  },
  fc.record({ op: fc.constant("revoke" as const), aim, guest, start: entry, n: count }),
  {
    arbitrary: fc.record({
      op: fc.constant("map" as const),
      aim,
      guest,
      start: entry,
      n: count,
      ras: fc.array(raPick, { minLength: 6, maxLength: 6 }),
      attrs: fc.oneof({ arbitrary: fc.constantFrom(1, 2, 3), weight: 20 }, fc.constantFrom(0, 9)),
    }),
    weight: 3,
  },
  fc.record({ op: fc.constant("demap" as const), aim, guest, start: entry, n: count }),
  {
    arbitrary: fc.record({
      op: fc.constant("dma" as const),
      aim,
      device: fc.integer({ min: 0, max: GUESTS - 1 }),
      start: entry,
      off: fc.oneof(
        { arbitrary: fc.integer({ min: 0, max: 4095 }), weight: 3 },
        fc.integer({ min: 0, max: 8191 }),
      ),
      bytes: fc.oneof(
        { arbitrary: fc.integer({ min: 1, max: 4096 }), weight: 3 },
        fc.integer({ min: 1, max: 3 * 8192 }),
      ),
      write: fc.boolean(),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ op: fc.constant("kill" as const), guest }), weight: 1 },
);

/** How often each interesting outcome happened, so the test proves it exercised them. */
const seen = { mapped: 0, dmaOk: 0, dmaFault: 0, refusedMap: 0, afterDemapFault: 0, staleDma: 0 };

type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function run(ops: Op[], isolation: "shared" | "per-device", maxTtes: number) {
  const hv = new Hypervisor(
    smallMachine({ guests: GUESTS, windowPages: WIN, isolation, maxTtesPerCall: maxTtes }),
    parseCostModel({}),
  );
  const io = hv.iommus.get(DH)!;
  // Reference model.
  const owner = new Int16Array(WIN).fill(-1);
  const tte = new Int32Array(WIN).fill(-1); // PA page or -1
  const tteAttr = new Uint8Array(WIN);
  // Entries mapped over a valid TTE without a demap (sun4v v1 MAP does not flush): until the next
  // demap the device may see the old or the new translation; only safety is checked there.
  const muddled = new Uint8Array(WIN);
  const alive = [true, true, true, true];
  const inWindow = (s: number, n: number) => n > 0 && s >= 0 && s + n <= WIN;
  let tag = 1;

  /** With `aim`, the n-th entry owned by `g` (or holding a live TTE, for DMA); else `start` as given. */
  const aimAt = (o: { aim: boolean; start: number }, pick: (i: number) => boolean) => {
    if (!o.aim) return o.start;
    const hits = [...owner.keys()].filter(pick);
    return hits.length === 0 ? o.start : hits[Math.abs(o.start) % hits.length]!;
  };

  for (const raw of ops) {
    const o = { ...raw };
    if (o.op === "map" || o.op === "demap" || o.op === "revoke")
      o.start = aimAt(o, (i) => owner[i] === o.guest);
    if (o.op === "dma") o.start = aimAt(o, (i) => tte[i] !== -1);
    switch (o.op) {
      case "grant": {
        const st = hv.dvmaGrant(0, o.guest, DH, WINDOW_BASE + o.start * 8192, o.n);
        const ok =
          alive[o.guest] &&
          inWindow(o.start, o.n) &&
          owner.subarray(o.start, o.start + o.n).every((x) => x === -1);
        expect(st === HV.EOK).toBe(!!ok);
        if (ok) owner.fill(o.guest, o.start, o.start + o.n);
        break;
      }
      case "revoke": {
        const st = hv.dvmaRevoke(0, o.guest, DH, WINDOW_BASE + o.start * 8192, o.n);
        const ok =
          inWindow(o.start, o.n) &&
          owner.subarray(o.start, o.start + o.n).every((x) => x === o.guest);
        expect(st === HV.EOK).toBe(ok);
        if (ok) {
          owner.fill(-1, o.start, o.start + o.n);
          tte.fill(-1, o.start, o.start + o.n);
          muddled.fill(0, o.start, o.start + o.n);
        }
        break;
      }
      case "map": {
        const mem = hv.domains[o.guest]!.mem;
        const other = hv.domains[(o.guest % GUESTS) + 1]!.mem;
        const ras = o.ras.map((r) =>
          r.kind === "own"
            ? RA_BASE + r.page * 8192
            : r.kind === "other"
              ? other.firstRa + r.page * 8192 + 2 ** 24
              : r.kind === "garbage"
                ? 0x10_0000 * r.page
                : RA_BASE + r.page * 8192 + 8,
        );
        if (alive[o.guest]) writeList(hv, o.guest, LIST, ras);
        const snapshot = io.iotsb.pa.slice();
        const snapAttr = io.iotsb.attr.slice();
        // The caller's loop: keep calling while the hypervisor maps part of the request.
        let done = 0;
        let st: number = HV.EOK;
        do {
          st = hv.iommuMap(o.guest, DH, 0, o.start + done, o.n - done, o.attrs, LIST + done * 8);
          if (st === HV.EOK) {
            expect(hv.ret1).toBeGreaterThan(0);
            expect(hv.ret1).toBeLessThanOrEqual(maxTtes);
            for (let k = done; k < done + hv.ret1; k++) {
              if (tte[o.start + k] !== -1) muddled[o.start + k] = 1;
              tte[o.start + k] = mem.paPageOf(ras[k]!);
              tteAttr[o.start + k] = o.attrs;
            }
            done += hv.ret1;
            seen.mapped++;
          } else seen.refusedMap++;
        } while (done < o.n && st === HV.EOK);
        if (o.n === 0 || !inWindow(o.start, o.n))
          expect(st).toBe(alive[o.guest] ? HV.EINVAL : HV.ENOACCESS);
        if (st !== HV.EOK) {
          // What the failing call refused it did not touch: only earlier loop rounds changed TTEs.
          const batch = Math.min(o.n - done, maxTtes);
          for (let k = 0; k < batch && inWindow(o.start + done + k, 1); k++) {
            const i = o.start + done + k;
            expect(io.iotsb.pa[i]).toBe(snapshot[i]!);
            expect(io.iotsb.attr[i]).toBe(snapAttr[i]!);
          }
          // Why it refused must be the first rule broken.
          const idx = Array.from({ length: batch }, (_, k) => o.start + done + k);
          const notOwned = idx.some((i) => owner[i] !== o.guest);
          if (!alive[o.guest]) expect(st).toBe(HV.ENOACCESS);
          else if (inWindow(o.start, o.n) && (o.attrs & ~7) === 0 && (o.attrs & 3) !== 0) {
            if (notOwned) expect(st).toBe(HV.ENOACCESS);
            else expect([HV.ENORADDR, HV.EBADALIGN]).toContain(st as 2 | 8);
          }
        } else if (o.n > 0) {
          // Mapped only own entries to own pages.
          for (let k = 0; k < o.n; k++) expect(owner[o.start + k]).toBe(o.guest);
        }
        break;
      }
      case "demap": {
        const st = hv.iommuDemap(o.guest, DH, 0, o.start, o.n);
        const n = Math.min(o.n, maxTtes);
        const ok =
          alive[o.guest] &&
          inWindow(o.start, o.n) &&
          owner.subarray(o.start, o.start + n).every((x) => x === o.guest);
        expect(st === HV.EOK).toBe(!!ok);
        if (ok) {
          tte.fill(-1, o.start, o.start + n);
          muddled.fill(0, o.start, o.start + n);
        }
        break;
      }
      case "dma": {
        const dvma = WINDOW_BASE + o.start * 8192 + o.off;
        const first = o.start;
        const pages = Math.floor((o.off + o.bytes - 1) / 8192) + 1;
        const devDomain = o.device + 1;
        let expectOk = alive[devDomain] && first >= 0 && first + pages <= WIN;
        for (let k = 0; expectOk && k < pages; k++) {
          const i = first + k;
          if (isolation === "per-device" && owner[i] !== devDomain) expectOk = false;
          else if (tte[i] === -1 || (tteAttr[i]! & (o.write ? IO_ATTR_WRITE : IO_ATTR_READ)) === 0)
            expectOk = false;
        }
        const before = hv.memory.content.slice();
        const t = tag++;
        const fault = hv.deviceDma(o.device, dvma, o.bytes, o.write, t * 1000);
        if (
          first >= 0 &&
          first + pages <= WIN &&
          muddled.subarray(first, first + pages).includes(1)
        ) {
          // A stale translation may be used: whatever changed belongs to an owner of the range.
          const owners = new Set(owner.subarray(first, first + pages));
          for (let p = 0; p < before.length; p++)
            if (hv.memory.content[p] !== before[p])
              expect(owners.has(hv.memory.owner[p]!)).toBe(true);
          seen.staleDma++;
          break;
        }
        expect(fault === DmaFault.none).toBe(!!expectOk);
        if (fault === DmaFault.none) seen.dmaOk++;
        else seen.dmaFault++;
        if (
          fault === DmaFault.noTranslation &&
          first >= 0 &&
          first < WIN &&
          io.iotlb.holds(first) === false
        )
          seen.afterDemapFault++;
        const changed = new Map<number, number>();
        for (let p = 0; p < before.length; p++)
          if (hv.memory.content[p] !== before[p]) changed.set(p, hv.memory.content[p]!);
        if (fault === DmaFault.none && o.write) {
          // Exactly the pages the mapping names, each with its own part of the data.
          const expected = new Map<number, number>();
          for (let k = 0; k < pages; k++) expected.set(tte[first + k]!, t * 1000 + k);
          for (const [p, v] of changed) expect(expected.get(p)).toBe(v);
          for (const [p, v] of expected) if (before[p] !== v) expect(changed.get(p)).toBe(v);
        } else expect(changed.size).toBe(0);
        break;
      }
      case "kill": {
        if (!alive[o.guest]) break;
        hv.killDomain(o.guest, "test");
        alive[o.guest] = false;
        for (let i = 0; i < WIN; i++) if (owner[i] === o.guest) [tte[i], muddled[i]] = [-1, 0];
        break;
      }
    }
    const v = hypervisorViolations(hv);
    if (v.length > 0) throw new Error(`after ${JSON.stringify(o)}: ${v.join("; ")}`);
    for (let i = 0; i < WIN; i++) {
      expect(io.entryOwner[i]).toBe(owner[i]!);
      expect(io.iotsb.isValid(i) ? io.iotsb.pa[i] : -1).toBe(tte[i]!);
    }
  }
}

describe("hypervisor safety invariants (model-based)", () => {
  for (const isolation of ["shared", "per-device"] as const) {
    test(`random grants, maps, DMAs, demaps, revokes and deaths (${isolation})`, () => {
      fc.assert(
        fc.property(
          fc.array(op, { minLength: 20, maxLength: 80, size: "max" }),
          fc.integer({ min: 1, max: 4 }),
          (ops, maxTtes) => {
            run(ops, isolation, maxTtes);
          },
        ),
        { numRuns: 250 },
      );
    });
  }
  test("the random sequences exercised successful and refused maps and DMAs", () => {
    expect(seen.mapped).toBeGreaterThan(250);
    expect(seen.refusedMap).toBeGreaterThan(2500);
    expect(seen.dmaOk).toBeGreaterThan(100);
    expect(seen.dmaFault).toBeGreaterThan(3000);
    expect(seen.afterDemapFault).toBeGreaterThan(500);
    expect(seen.staleDma).toBeGreaterThan(100);
  });
});
