/**
 * sun4v hypervisor status codes, as in Linux
 * arch/sparc/include/asm/hypervisor.h (see shared/reference/sun4v.md). Values 18-22 are not defined.
 */
export const HV = {
  EOK: 0,
  ENOCPU: 1,
  ENORADDR: 2,
  ENOINTR: 3,
  EBADPGSZ: 4,
  EBADTSB: 5,
  EINVAL: 6,
  EBADTRAP: 7,
  EBADALIGN: 8,
  EWOULDBLOCK: 9,
  ENOACCESS: 10,
  EIO: 11,
  ECPUERROR: 12,
  ENOTSUPPORTED: 13,
  ENOMAP: 14,
  ETOOMANY: 15,
  ECHANNEL: 16,
  EBUSY: 17,
  EUNAVAILABLE: 23,
} as const;
export type HvStatus = (typeof HV)[keyof typeof HV];

export const DOCUMENTED_STATUSES: ReadonlySet<number> = new Set(Object.values(HV));

const NAMES = new Map<number, string>(Object.entries(HV).map(([k, v]) => [v, k]));
export const statusName = (s: number): string => NAMES.get(s) ?? `status ${s}`;
