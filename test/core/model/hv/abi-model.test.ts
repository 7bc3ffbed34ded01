import { expect, test } from "bun:test";
import fc from "fast-check";
import { hypercall } from "../../../../core/model/hv/abi.ts";
import { FN } from "../../../../core/model/hv/functions.ts";
import type { Hypervisor } from "../../../../core/model/hv/hypervisor.ts";
import { RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import { LdcChannel } from "../../../../core/model/hv/ldc.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";
import { smallHv, WINDOW_BASE } from "../../../helpers/small-machine.ts";

/**
 * The raw ABI against a reference: every raw call's status and return registers equal the typed
 * call's on the fields decoded by this file's own reading of the register layout, the two
 * machines stay identical, and a call that does not return EOK leaves the IOTSB, the IOTLB, the
 * ownership table and memory exactly as they were.
 */

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Stand-ins for values no check accepts: a register wider than its field, a number above 2^53. */
const BAD_ID = -1;
const HUGE = 2 ** 60;
const id = (x: bigint, bits: number) => (x < 1n << BigInt(bits) ? Number(x) : BAD_ID);
const n64 = (x: bigint) => (x <= SAFE ? Number(x) : HUGE);

/** The typed call a raw call means, per the sun4v register layout (tsbid = tsbnum << 32 | index). */
function typed(hv: Hypervisor, caller: number, fn: number, r: bigint[]): number {
  const [a0, a1, a2, a3, a4] = r as [bigint, bigint, bigint, bigint, bigint];
  const tsbnum = n64(a1 >> 32n);
  const index = Number(a1 & 0xffff_ffffn);
  switch (fn) {
    case FN.PCI_IOMMU_MAP:
      return hv.iommuMap(
        caller,
        id(a0, 28),
        tsbnum,
        index,
        n64(a2),
        id(a3, 8),
        a4 % 8n !== 0n ? 1 : n64(a4),
      );
    case FN.PCI_IOMMU_DEMAP:
      return hv.iommuDemap(caller, id(a0, 28), tsbnum, index, n64(a2));
    case FN.PCI_IOMMU_GETMAP:
      return hv.iommuGetmap(caller, id(a0, 28), tsbnum, index);
    case FN.PCI_DMA_SYNC:
      return hv.dmaSync(caller, id(a0, 28), n64(a1), n64(a2), id(a3, 8));
    case FN.LDC_COPY:
      return hv.ldcCopy(caller, id(a0, 31), id(a1, 8), n64(a2), n64(a3), n64(a4));
    case FN.DVMA_GRANT:
      return hv.dvmaGrant(caller, id(a0, 15), id(a1, 28), n64(a2), n64(a3));
    case FN.DVMA_REVOKE:
      return hv.dvmaRevoke(caller, id(a0, 15), id(a1, 28), n64(a2), n64(a3));
    default:
      return hv.dvmaInfo(caller, id(a0, 28), n64(a1));
  }
}

interface TlbView {
  tag: Int32Array;
  pa: Int32Array;
  attr: Uint8Array;
}
/** Everything a call may change: TTEs, IOTLB slots, owners, memory contents. */
function state(hv: Hypervisor): string {
  const io = hv.iommus.get(0x200)!;
  const tlb = io.iotlb as unknown as TlbView;
  return JSON.stringify([
    [...io.iotsb.pa],
    [...io.iotsb.attr],
    [...tlb.tag],
    [...tlb.pa],
    [...tlb.attr],
    [...io.entryOwner],
    io.ownedEntries,
    hv.memory.content.reduce((h, x, i) => (h * 31 + x * (i + 1)) >>> 0, 0),
  ]);
}

function machine(): Hypervisor {
  const hv = smallHv({ guests: 2, windowPages: 24, maxTtesPerCall: 5 });
  const sim = new Simulator();
  hv.addChannel(
    new LdcChannel(sim, 1, 0, 1, { queueEntries: 8, latencyNs: 1, lossRate: 0 }, new Rng(1)),
  );
  hv.ldcBind(1, 1, RA_BASE + 40 * 8192, 2 * 8192, 3);
  expect(hv.dvmaGrant(0, 1, 0x200, WINDOW_BASE, 8)).toBe(HV.EOK);
  expect(hv.dvmaGrant(0, 2, 0x200, WINDOW_BASE + 8 * 8192, 4)).toBe(HV.EOK);
  const words = hv.memory.words(hv.domains[1]!.mem.paPageOf(RA_BASE));
  for (let k = 0; k < 8; k++) words[k] = RA_BASE + (16 + k) * 8192;
  return hv;
}

const FNS = [
  FN.PCI_IOMMU_MAP,
  FN.PCI_IOMMU_DEMAP,
  FN.PCI_IOMMU_GETMAP,
  FN.PCI_DMA_SYNC,
  FN.LDC_COPY,
  FN.DVMA_GRANT,
  FN.DVMA_REVOKE,
  FN.DVMA_INFO,
];
/** Register values near what the checks look at, and anything at all. */
const reg = fc.oneof(
  fc.bigInt({ min: 0n, max: 8n }),
  fc.constant(0x200n),
  fc.bigInt({ min: 0n, max: 30n }).map((k) => BigInt(WINDOW_BASE) + k * 8192n),
  fc.bigInt({ min: 0n, max: 60n }).map((k) => BigInt(RA_BASE) + k * 8192n),
  fc
    .tuple(fc.bigInt({ min: 0n, max: 2n }), fc.bigInt({ min: 0n, max: 26n }))
    .map(([t, i]) => (t << 32n) | i),
  fc.bigInt({ min: 0n, max: 0xff_ffffn }).map((k) => (1n << 28n) | k), // just above a field
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);
/** Per function, registers of the right kind most of the time (so calls get past the first checks). */
const small = (max: number) => fc.bigInt({ min: 0n, max: BigInt(max) });
const dh = fc.constant(0x200n);
const tsbid = small(26);
const window = small(26).map((k) => BigInt(WINDOW_BASE) + k * 8192n);
const ra = small(60).map((k) => BigInt(RA_BASE) + k * 8192n);
const PLAUSIBLE: Record<number, fc.Arbitrary<bigint>[]> = {
  [FN.PCI_IOMMU_MAP]: [dh, tsbid, small(8), small(3), fc.constant(BigInt(RA_BASE))],
  [FN.PCI_IOMMU_DEMAP]: [dh, tsbid, small(8)],
  [FN.PCI_IOMMU_GETMAP]: [dh, tsbid],
  [FN.PCI_DMA_SYNC]: [dh, ra, small(20000), small(3)],
  [FN.LDC_COPY]: [small(2), small(1), small(1), ra, small(20000)],
  [FN.DVMA_GRANT]: [small(3), dh, window, small(6)],
  [FN.DVMA_REVOKE]: [small(3), dh, window, small(6)],
  [FN.DVMA_INFO]: [dh, window],
};
const call = fc.constantFrom(...FNS).chain((fn) =>
  fc.record({
    caller: fc.constantFrom(0, 1, 1, 2),
    fn: fc.constant(fn),
    regs: fc.tuple(
      ...[0, 1, 2, 3, 4].map((i) => {
        const p = PLAUSIBLE[fn]![i];
        return p === undefined
          ? reg
          : fc.oneof({ arbitrary: p, weight: 6 }, { arbitrary: reg, weight: 1 });
      }),
    ),
  }),
);

test("raw ABI = typed call on the decoded fields; a refused call changes nothing", () => {
  const seen = { ok: 0, refused: 0 };
  fc.assert(
    fc.property(fc.array(call, { minLength: 1, maxLength: 60 }), (calls) => {
      const raw = machine();
      const ref = machine();
      for (const c of calls) {
        const before = state(raw);
        const r = hypercall(
          raw,
          c.caller,
          BigInt(c.fn),
          ...(c.regs as [bigint, bigint, bigint, bigint, bigint]),
        );
        const st = typed(ref, c.caller, c.fn, c.regs);
        expect(r.status).toBe(st);
        expect(r.ret1).toBe(BigInt.asUintN(64, BigInt(ref.ret1)));
        expect(r.ret2).toBe(BigInt.asUintN(64, BigInt(ref.ret2)));
        const after = state(raw);
        expect(after).toBe(state(ref));
        if (r.status !== HV.EOK) {
          seen.refused++;
          expect(after).toBe(before);
        } else seen.ok++;
      }
    }),
    { numRuns: 200 },
  );
  expect(seen.ok).toBeGreaterThan(80);
  expect(seen.refused).toBeGreaterThan(800);
}, 120_000);
