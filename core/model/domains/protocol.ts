/**
 * The DVMA negotiation protocol between a guest and the control domain's broker. Every message is
 * one fixed 64-byte LDC packet (LDC_PACKET_SIZE); multi-byte fields are big-endian, as on SPARC.
 *
 *   0      kind          1  major     2  minor    3  reserved
 *   4..7   id            8..15 devhandle          16..23 base (DVMA address)
 *   24..31 npages        32..39 align (pages) in a DVMA_REQ, the grant's number in any other
 *   40..63 reason (ASCII, NUL padded)
 *
 * The broker numbers each grant (per guest, never reused) and a release names the grant it
 * returns: the broker acts on it only while that grant is live, so a release that arrives late
 * never takes back a newer grant of the same range.
 */

import { LDC_PACKET_SIZE } from "../hv/ldc.ts";

// Major 2: bytes 32..39 of a release name its grant (major 1 put nothing there).
export const PROTOCOL_MAJOR = 2;
export const PROTOCOL_MINOR = 0;
/**
 * The reason the broker gives for a request or release whose id is older than every reply it
 * keeps and that it has no answer for: it did nothing for it (see ReplyCache).
 */
export const STALE = "stale";

export const Msg = {
  VER_INFO: 1,
  VER_ACK: 2,
  VER_NACK: 3,
  DVMA_REQ: 4,
  DVMA_GRANT: 5,
  DVMA_NACK: 6,
  DVMA_RELEASE: 7,
  RELEASE_ACK: 8,
} as const;
export type MsgKind = (typeof Msg)[keyof typeof Msg];
export const MSG_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(Msg).map(([k, v]) => [v, k]),
);

/** Event label of a packet: its message kind and id. */
export function labelPacket(p: Uint8Array): { msg: string; id: number } {
  const msg = MSG_NAMES[p[0]!] ?? `0x${(p[0] ?? 0).toString(16)}`;
  const id = p.length >= 8 ? new DataView(p.buffer, p.byteOffset, 8).getUint32(4) : 0;
  return { msg, id };
}

export interface Message {
  kind: MsgKind;
  major: number;
  minor: number;
  id: number;
  devhandle: number;
  base: number;
  npages: number;
  align: number;
  /** The grant a DVMA_GRANT hands out, a DVMA_RELEASE returns, a RELEASE_ACK answers; 0 = none. */
  grant: number;
  reason: string;
}

const REASON_AT = 40;
const REASON_LEN = 24;

export function message(kind: MsgKind, fields: Partial<Omit<Message, "kind">> = {}): Message {
  return {
    kind,
    major: PROTOCOL_MAJOR,
    minor: PROTOCOL_MINOR,
    id: 0,
    devhandle: 0,
    base: 0,
    npages: 0,
    align: 1,
    grant: 0,
    reason: "",
    ...fields,
  };
}

const fits = (x: number, max: number): boolean => Number.isInteger(x) && x >= 0 && x <= max;

/** @throws RangeError when a number does not fit its field (a bug in the sender; never truncated). */
export function encode(m: Message, out: Uint8Array = new Uint8Array(LDC_PACKET_SIZE)): Uint8Array {
  const ok =
    fits(m.kind, 0xff) &&
    fits(m.major, 0xff) &&
    fits(m.minor, 0xff) &&
    fits(m.id, 0xffff_ffff) &&
    fits(m.devhandle, Number.MAX_SAFE_INTEGER) &&
    fits(m.base, Number.MAX_SAFE_INTEGER) &&
    fits(m.npages, Number.MAX_SAFE_INTEGER) &&
    fits(m.align, Number.MAX_SAFE_INTEGER) &&
    fits(m.grant, Number.MAX_SAFE_INTEGER);
  if (!ok) throw new RangeError(`protocol message with a field out of range: ${JSON.stringify(m)}`);
  out.fill(0);
  const v = new DataView(out.buffer, out.byteOffset, LDC_PACKET_SIZE);
  v.setUint8(0, m.kind);
  v.setUint8(1, m.major);
  v.setUint8(2, m.minor);
  v.setUint32(4, m.id);
  v.setBigUint64(8, BigInt(m.devhandle));
  v.setBigUint64(16, BigInt(m.base));
  v.setBigUint64(24, BigInt(m.npages));
  v.setBigUint64(32, BigInt(m.kind === Msg.DVMA_REQ ? m.align : m.grant));
  const r = m.reason;
  // The reason is free text (a policy's refusal): cut to its field, anything unprintable shown as "?".
  for (let i = 0; i < REASON_LEN && i < r.length; i++) {
    const c = r.charCodeAt(i);
    out[REASON_AT + i] = c >= 0x20 && c <= 0x7e ? c : 0x3f;
  }
  return out;
}

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The message in a packet, or null if it is not one: wrong size, unknown kind, a reserved byte
 * set, a number above 2^53 - 1 (it would be rounded), or a reason that is not printable ASCII
 * followed by NUL padding. Nothing is truncated or masked into range.
 */
export function decode(p: Uint8Array): Message | null {
  if (p.length !== LDC_PACKET_SIZE) return null;
  const v = new DataView(p.buffer, p.byteOffset, LDC_PACKET_SIZE);
  const kind = v.getUint8(0);
  if (MSG_NAMES[kind] === undefined || v.getUint8(3) !== 0) return null;
  const big = [8, 16, 24, 32].map((at) => v.getBigUint64(at));
  if (big.some((x) => x > MAX)) return null;
  let reason = "";
  let end = false;
  for (let i = 0; i < REASON_LEN; i++) {
    const c = p[REASON_AT + i]!;
    if (c === 0) end = true;
    else if (end || c < 0x20 || c > 0x7e) return null;
    else reason += String.fromCharCode(c);
  }
  return {
    kind: kind as MsgKind,
    major: v.getUint8(1),
    minor: v.getUint8(2),
    id: v.getUint32(4),
    devhandle: Number(big[0]),
    base: Number(big[1]),
    npages: Number(big[2]),
    align: kind === Msg.DVMA_REQ ? Number(big[3]) : 1,
    grant: kind === Msg.DVMA_REQ ? 0 : Number(big[3]),
    reason,
  };
}
