import { describe, expect, test } from "bun:test";
import { decode, encode, Msg, message } from "../../../../core/model/domains/protocol.ts";
import { hypercall } from "../../../../core/model/hv/abi.ts";
import { FN } from "../../../../core/model/hv/functions.ts";
import { RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import { LdcChannel } from "../../../../core/model/hv/ldc.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";
import { smallHv, WINDOW_BASE, writeList } from "../../../helpers/small-machine.ts";

const DH = 0x200n;
const LIST = BigInt(RA_BASE);
const BUF = RA_BASE + 16 * 8192;

/** g1 holds entries 0..7 and has mapped entry 0 (its list names one page); channel 1 has an export. */
function machine() {
  const hv = smallHv();
  expect(hv.dvmaGrant(0, 1, 0x200, WINDOW_BASE, 8)).toBe(HV.EOK);
  writeList(hv, 1, RA_BASE, [BUF]);
  expect(hv.iommuMap(1, 0x200, 0, 0, 1, 1, RA_BASE)).toBe(HV.EOK);
  hv.addChannel(
    new LdcChannel(
      new Simulator(),
      1,
      0,
      1,
      { queueEntries: 8, latencyNs: 1, lossRate: 0 },
      new Rng(1),
    ),
  );
  const cookie = hv.ldcBind(1, 1, BUF, 8192, 3);
  return { hv, cookie: BigInt(cookie) };
}

type Regs = [bigint, bigint, bigint, bigint, bigint];
/** A call that succeeds as given, then the same call with one register widened past its field. */
interface Case {
  name: string;
  caller: number;
  fn: number;
  regs: (cookie: bigint) => Regs;
  /** Register index and the field's width in bits (values from 2^width up must be refused). */
  fields: [reg: number, bits: number, what: string][];
}

const MAP: Case = {
  name: "pci_iommu_map",
  caller: 1,
  fn: FN.PCI_IOMMU_MAP,
  regs: () => [DH, 0n, 1n, 1n, LIST],
  fields: [
    [0, 28, "devhandle"],
    [1, 64, "tsbnum (tsbid bits 32..63 must be 0)"],
    [3, 8, "io_attributes"],
  ],
};
const CASES: Case[] = [
  MAP,
  {
    name: "pci_iommu_getmap",
    caller: 1,
    fn: FN.PCI_IOMMU_GETMAP,
    regs: () => [DH, 0n, 0n, 0n, 0n],
    fields: [[0, 28, "devhandle"]],
  },
  {
    name: "pci_dma_sync",
    caller: 1,
    fn: FN.PCI_DMA_SYNC,
    regs: () => [DH, BigInt(BUF), 8192n, 1n, 0n],
    fields: [
      [0, 28, "devhandle"],
      [3, 8, "io_sync_direction"],
    ],
  },
  {
    name: "ldc_copy",
    caller: 0,
    fn: FN.LDC_COPY,
    regs: (cookie) => [1n, 0n, cookie, BigInt(RA_BASE + 8192), 8192n],
    fields: [[1, 8, "direction"]],
  },
  {
    name: "dvma_grant",
    caller: 0,
    fn: FN.DVMA_GRANT,
    regs: () => [2n, DH, BigInt(WINDOW_BASE + 16 * 8192), 4n, 0n],
    fields: [
      [0, 15, "guest"],
      [1, 28, "devhandle"],
    ],
  },
  {
    name: "dvma_info",
    caller: 0,
    fn: FN.DVMA_INFO,
    regs: () => [DH, BigInt(WINDOW_BASE), 0n, 0n, 0n],
    fields: [[0, 28, "devhandle"]],
  },
];

describe("strict decoding: a register with bits above its field is refused, never truncated", () => {
  for (const c of CASES) {
    test(c.name, () => {
      const base = machine();
      const ok = hypercall(base.hv, c.caller, BigInt(c.fn), ...c.regs(base.cookie));
      expect(ok.status).toBe(HV.EOK);
      for (const [reg, bits, what] of c.fields) {
        // The lowest bit above the field, the top bit, and all ones: each keeps the valid low bits.
        for (const high of [bits < 64 ? 1n << BigInt(bits) : 1n << 32n, 1n << 63n, ~0n]) {
          const { hv, cookie } = machine();
          const regs = c.regs(cookie);
          regs[reg] = BigInt.asUintN(64, regs[reg]! | high);
          const r = hypercall(hv, c.caller, BigInt(c.fn), ...regs);
          if (r.status !== HV.EINVAL)
            throw new Error(`${c.name}: ${what} = 0x${regs[reg]!.toString(16)} gave ${r.status}`);
        }
      }
    });
  }

  test("counts and addresses above 2^53 are refused, not rounded", () => {
    // 2^53 + 1 rounds to 2^53 as a double: still refused, since it is no count or address we hold.
    for (const n of [(1n << 53n) + 1n, 1n << 60n, ~0n]) {
      const { hv } = machine();
      const r = hypercall(hv, 1, BigInt(FN.PCI_IOMMU_MAP), DH, 0n, BigInt.asUintN(64, n), 1n, LIST);
      expect(r.status).toBe(HV.EINVAL);
      expect(hv.iommus.get(0x200)!.iotsb.valid).toBe(1);
      const d = hypercall(hv, 1, BigInt(FN.PCI_IOMMU_DEMAP), DH, 0n, BigInt.asUintN(64, n));
      expect(d.status).toBe(HV.EINVAL);
    }
  });
});

describe("strict decoding: LDC protocol messages", () => {
  const good = () =>
    encode(message(Msg.DVMA_REQ, { id: 7, devhandle: 0x200, npages: 4, align: 1 }));

  test("a well-formed message round-trips", () => {
    expect(decode(good())).toMatchObject({
      kind: Msg.DVMA_REQ,
      id: 7,
      devhandle: 0x200,
      npages: 4,
    });
  });

  test("a 64-bit field above 2^53 - 1 is a decode error, in every such field", () => {
    for (const at of [8, 16, 24, 32]) {
      for (const x of [1n << 53n, (1n << 53n) + 1n, ~0n & ((1n << 64n) - 1n)]) {
        const p = good();
        new DataView(p.buffer).setBigUint64(at, x);
        expect(decode(p)).toBeNull();
      }
      const p = good();
      new DataView(p.buffer).setBigUint64(at, (1n << 53n) - 1n);
      expect(decode(p)).not.toBeNull();
    }
  });

  test("a reserved byte, an unprintable reason byte or text after the NUL is a decode error", () => {
    const reserved = good();
    reserved[3] = 1;
    expect(decode(reserved)).toBeNull();
    const high = encode(message(Msg.DVMA_NACK, { id: 1, reason: "no-space" }));
    expect(decode(high)!.reason).toBe("no-space");
    high[41] = 0xee; // 'o' | 0x80 would have been masked to 'n'
    expect(decode(high)).toBeNull();
    const after = encode(message(Msg.DVMA_NACK, { id: 1, reason: "ab" }));
    after[44] = 0x41;
    expect(decode(after)).toBeNull();
  });

  test("encoding never truncates a number: out of range throws", () => {
    for (const f of [
      { id: 2 ** 32 },
      { id: -1 },
      { npages: 2 ** 53 },
      { base: 1.5 },
      { devhandle: Number.NaN },
      { major: 256 },
    ])
      expect(() => encode(message(Msg.DVMA_REQ, f))).toThrow(RangeError);
    // Free text is cut to its field, unprintable characters shown as "?".
    const m = decode(encode(message(Msg.DVMA_NACK, { reason: "a\u2026".padEnd(40, "x") })))!;
    expect(m.reason).toBe("a?".padEnd(24, "x"));
  });
});
