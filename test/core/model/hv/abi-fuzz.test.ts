import { expect, test } from "bun:test";
import { hypercall } from "../../../../core/model/hv/abi.ts";
import { FN } from "../../../../core/model/hv/functions.ts";
import { RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import { hypervisorViolations } from "../../../../core/model/hv/invariants.ts";
import { LdcChannel } from "../../../../core/model/hv/ldc.ts";
import { DOCUMENTED_STATUSES, HV } from "../../../../core/model/hv/status.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";
import { smallHv, WINDOW_BASE } from "../../../helpers/small-machine.ts";

const CALLS = 120_000;
const KNOWN = [
  FN.LDC_COPY,
  FN.PCI_IOMMU_MAP,
  FN.PCI_IOMMU_DEMAP,
  FN.PCI_IOMMU_GETMAP,
  FN.PCI_IOMMU_GETBYPASS,
  FN.PCI_DMA_SYNC,
  FN.DVMA_GRANT,
  FN.DVMA_REVOKE,
  FN.DVMA_INFO,
  0x196,
];

/** A 64-bit value: fully random, or near the values the checks care about (so calls get deep). */
function value(r: Rng): bigint {
  const full = () => (BigInt(r.nextU32()) << 32n) | BigInt(r.nextU32());
  switch (r.int(0, 8)) {
    case 0:
      return full();
    case 1:
      return BigInt(r.int(0, 8));
    case 2:
      return 0x200n; // the devhandle
    case 3:
      return BigInt(WINDOW_BASE + r.int(0, 70) * 8192 + (r.chance(0.9) ? 0 : r.int(1, 8192)));
    case 4:
      return BigInt(RA_BASE + r.int(0, 1100) * 8192 + (r.chance(0.9) ? 0 : r.int(1, 8)));
    case 5:
      return BigInt(r.int(0, 70)); // tsbid with tsbnum 0, or a small count
    case 6:
      return (BigInt(r.int(0, 3)) << 32n) | BigInt(r.int(0, 70));
    default:
      return -BigInt(r.int(1, 4)); // negative: wraps to near 2^64
  }
}

type Kind =
  | "dh"
  | "tsbid"
  | "n"
  | "attrs"
  | "list"
  | "guest"
  | "base"
  | "ra"
  | "size"
  | "dir"
  | "chan"
  | "copydir"
  | "cookie";
const SIGNATURES: Record<number, Kind[]> = {
  [FN.PCI_IOMMU_MAP]: ["dh", "tsbid", "n", "attrs", "list"],
  [FN.PCI_IOMMU_DEMAP]: ["dh", "tsbid", "n"],
  [FN.PCI_IOMMU_GETMAP]: ["dh", "tsbid"],
  [FN.PCI_DMA_SYNC]: ["dh", "ra", "size", "dir"],
  [FN.DVMA_GRANT]: ["guest", "dh", "base", "n"],
  [FN.DVMA_REVOKE]: ["guest", "dh", "base", "n"],
  [FN.DVMA_INFO]: ["dh", "base"],
  [FN.LDC_COPY]: ["chan", "copydir", "cookie", "ra", "size"],
};

/** A value of the right kind for the parameter (so the call gets past the first checks). */
function plausible(r: Rng, k: Kind): bigint {
  switch (k) {
    case "dh":
      return 0x200n;
    case "tsbid":
      return BigInt(r.int(0, 66));
    case "n":
      return BigInt(r.int(1, 12));
    case "attrs":
      return BigInt(r.int(1, 4));
    case "list":
      return BigInt(RA_BASE + 8 * r.int(0, 4));
    case "guest":
      return BigInt(r.int(1, 4));
    case "base":
      return BigInt(WINDOW_BASE + r.int(0, 66) * 8192);
    case "ra":
      return BigInt(RA_BASE + r.int(0, 1030) * 8192);
    case "size":
      return BigInt(r.int(1, 20000));
    case "dir":
      return BigInt(r.int(1, 3));
    case "chan":
      return BigInt(r.int(1, 3));
    case "copydir":
      return BigInt(r.int(0, 2));
    case "cookie":
      return BigInt(r.int(0, 3) * 8192);
  }
}

test(`fuzz: ${CALLS} raw hypercalls with random 64-bit arguments never throw and keep every invariant`, () => {
  const r = new Rng(0x5eed);
  const hv = smallHv({ guests: 3, windowPages: 64, maxTtesPerCall: 8 });
  // Channels 1 and 2 (control <-> g1, g2) with a few exported buffers, so LDC_COPY gets deep too.
  const sim = new Simulator();
  for (const g of [1, 2]) {
    hv.addChannel(
      new LdcChannel(sim, g, 0, g, { queueEntries: 128, latencyNs: 1000, lossRate: 0 }, new Rng(g)),
    );
    for (let k = 0; k < 3; k++) hv.ldcBind(g, g, RA_BASE + (200 + k * 4) * 8192, 2 * 8192, k + 1);
  }
  const statuses = new Map<number, number>();
  for (let i = 0; i < CALLS; i++) {
    const caller = r.chance(0.15) ? 0 : r.int(1, 4); // 0 = control, 1..3 guests
    const fn = r.chance(0.8) ? BigInt(r.pick(KNOWN)) : value(r);
    // Sometimes scribble plausible or random page lists into a guest's list page.
    if (caller > 0 && r.chance(0.05)) {
      const words = hv.memory.words(hv.domains[caller]!.mem.paPageOf(RA_BASE));
      for (let k = 0; k < 16; k++)
        words[k] = r.chance(0.8) ? RA_BASE + r.int(0, 1100) * 8192 : r.int(0, 2 ** 30) * 8;
    }
    let res: ReturnType<typeof hypercall>;
    try {
      const sig = SIGNATURES[Number(fn)] ?? [];
      const arg = (i: number) =>
        sig[i] !== undefined && r.chance(0.85) ? plausible(r, sig[i]!) : value(r);
      res = hypercall(hv, caller, fn, arg(0), arg(1), arg(2), arg(3), arg(4));
    } catch (e) {
      throw new Error(`call ${i}: fn ${fn} threw ${e}`);
    }
    if (!DOCUMENTED_STATUSES.has(res.status))
      throw new Error(`call ${i}: undocumented status ${res.status}`);
    expect(res.ret1 >= 0n && res.ret1 < 1n << 64n).toBe(true);
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    if (r.chance(0.002)) {
      const dev = r.int(0, 3);
      hv.deviceDma(dev, Number(value(r) & 0xffffffffn), r.int(1, 40000), r.chance(0.5), i);
    }
    if (i % 5000 === 0) expect(hypervisorViolations(hv)).toEqual([]);
  }
  expect(hypervisorViolations(hv)).toEqual([]);
  // The fuzz reached past the first checks: grants and maps succeeded, and each refusal kind was seen.
  for (const s of [
    HV.EOK,
    HV.EINVAL,
    HV.ENOACCESS,
    HV.ENORADDR,
    HV.EBADALIGN,
    HV.EBADTRAP,
    HV.ENOTSUPPORTED,
    HV.EBUSY,
    HV.ENOMAP,
  ]) {
    expect(statuses.get(s) ?? 0).toBeGreaterThan(0);
  }
  expect(statuses.get(HV.EOK)!).toBeGreaterThan(5000);
});
