import { FN } from "./functions.ts";
import type { Hypervisor } from "./hypervisor.ts";
import { HV } from "./status.ts";

/** What a fast trap leaves in the registers: %o0 = status, %o1..%o4 = return values. */
export interface TrapResult {
  status: number;
  ret1: bigint;
  ret2: bigint;
}

const U64 = (x: bigint): bigint => BigInt.asUintN(64, x);
/** A value no domain's memory, window or id reaches: stands for any register too large to be a JS-safe number. */
const HUGE = 2 ** 60;
const num = (x: bigint): number => (x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : HUGE);
/** A register that must fit `bits` bits, else -1 (which every check refuses). */
const field = (x: bigint, bits: number): number => (x >> BigInt(bits) === 0n ? Number(x) : -1);

/**
 * The raw sun4v fast-trap ABI: function number and arguments as 64-bit register values, any of
 * them possible. Every value is answered with a documented status, never an exception; the
 * checks themselves live in the typed calls this dispatches to.
 */
export function hypercall(
  hv: Hypervisor,
  caller: number,
  fn: bigint,
  a0 = 0n,
  a1 = 0n,
  a2 = 0n,
  a3 = 0n,
  a4 = 0n,
): TrapResult {
  const f = U64(fn);
  [a0, a1, a2, a3, a4] = [U64(a0), U64(a1), U64(a2), U64(a3), U64(a4)];
  const code = f <= 0xffffn ? Number(f) : -1;
  let status: number;
  switch (code) {
    case FN.PCI_IOMMU_MAP: {
      // An unaligned list pointer must stay unaligned after the conversion to a JS number.
      const list = (a4 & 7n) !== 0n ? 1 : num(a4);
      status = hv.iommuMap(
        caller,
        field(a0, 28),
        num(a1 >> 32n),
        Number(a1 & 0xffffffffn),
        num(a2),
        field(a3, 8),
        list,
      );
      break;
    }
    case FN.PCI_IOMMU_DEMAP:
      status = hv.iommuDemap(
        caller,
        field(a0, 28),
        num(a1 >> 32n),
        Number(a1 & 0xffffffffn),
        num(a2),
      );
      break;
    case FN.PCI_IOMMU_GETMAP:
      status = hv.iommuGetmap(caller, field(a0, 28), num(a1 >> 32n), Number(a1 & 0xffffffffn));
      break;
    case FN.PCI_DMA_SYNC:
      status = hv.dmaSync(caller, field(a0, 28), num(a1), num(a2), field(a3, 8));
      break;
    case FN.LDC_COPY:
      status = hv.ldcCopy(caller, field(a0, 31), field(a1, 8), num(a2), num(a3), num(a4));
      break;
    case FN.DVMA_GRANT:
      status = hv.dvmaGrant(caller, field(a0, 15), field(a1, 28), num(a2), num(a3));
      break;
    case FN.DVMA_REVOKE:
      status = hv.dvmaRevoke(caller, field(a0, 15), field(a1, 28), num(a2), num(a3));
      break;
    case FN.DVMA_INFO:
      status = hv.dvmaInfo(caller, field(a0, 28), num(a1));
      break;
    default: {
      // Bypass mappings would defeat isolation, and the ATU group is not offered: known, refused.
      const known =
        code === FN.PCI_IOMMU_GETBYPASS || (code >= FN.IOTSB_FIRST && code <= FN.IOTSB_LAST);
      status = hv.refuse(caller, code, known ? HV.ENOTSUPPORTED : HV.EBADTRAP);
    }
  }
  return { status, ret1: U64(BigInt(hv.ret1)), ret2: U64(BigInt(hv.ret2)) };
}
