/**
 * The explored world's state key as a stream of numbers (KeyWriter), hashed once: no JSON text and
 * no string joins per state. Parts read from the model's private fields are written here.
 */
import type { DvmaBroker } from "../../model/domains/broker.ts";
import type { GuestSwap } from "./symmetry.ts";

// Each value starts with a tag (negative, so a tag is never read as a length or an id), which
// makes the stream decodable: two equal streams are two equal keys.
const NULL = -1;
const FALSE = -2;
const TRUE = -3;
const NUM = -4;
const STR = -5;
const ARR = -6;
const OBJ = -7;
const VIEW = -8;
const HASH = -9;

/** Strings met in keys, numbered in the order first seen (shared by every world of a run). */
const ids = new Map<string, number>();
const strings: string[] = [];
export function intern(s: string): number {
  let id = ids.get(s);
  if (id === undefined) {
    id = strings.length;
    ids.set(s, id);
    strings.push(s);
  }
  return id;
}
export function internedString(id: number): string {
  return strings[id]!;
}

/** Views up to this many bytes are written element by element; longer ones by their hash. */
const VIEW_INLINE_BYTES = 256;

export class KeyWriter {
  private buf = new Float64Array(1024);
  private n = 0;

  reset(): void {
    this.n = 0;
  }

  /** A raw number (a length, an id or a tag): the caller knows where it stands. */
  raw(x: number): void {
    if (this.n === this.buf.length) {
      const b = new Float64Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.n++] = x;
  }

  num(x: number): void {
    // As JSON would: NaN and infinities are null, -0 is 0.
    if (!Number.isFinite(x)) this.raw(NULL);
    else {
      this.raw(NUM);
      this.raw(x === 0 ? 0 : x);
    }
  }

  str(s: string): void {
    this.raw(STR);
    this.raw(intern(s));
  }

  /** A 64-bit hash as two 32-bit halves. */
  hash64(h: bigint): void {
    this.raw(HASH);
    this.raw(Number(h >> 32n));
    this.raw(Number(h & 0xffff_ffffn));
  }

  bytes(b: Uint8Array): void {
    this.hash64(Bun.hash.wyhash(b));
  }

  /** The start of a list of `n` values. */
  list(n: number): void {
    this.raw(ARR);
    this.raw(n);
  }

  /**
   * Any value, read as the key has always read private fields: a Map by its entries, a Set by its
   * members, a typed array by its contents, a Signal by whether it fired, the machine's own
   * objects (hashed apart) by their kind, everything else as JSON would write it.
   */
  value(v: unknown): void {
    if (v === null || v === undefined) this.raw(NULL);
    else if (typeof v === "number") this.num(v);
    else if (typeof v === "string") this.str(v);
    else if (typeof v === "boolean") this.raw(v ? TRUE : FALSE);
    else if (typeof v !== "object")
      this.raw(NULL); // a function or symbol, as JSON writes one in a list
    else if (v instanceof Map) {
      this.list(v.size);
      for (const [k, x] of v) {
        this.list(2);
        this.value(k);
        this.value(x);
      }
    } else if (v instanceof Set) {
      this.list(v.size);
      for (const x of v) this.value(x);
    } else if (ArrayBuffer.isView(v)) this.view(v);
    else if (Array.isArray(v)) {
      this.list(v.length);
      for (let i = 0; i < v.length; i++) this.value(v[i]);
    } else if ("triggered" in v) this.raw((v as { triggered: boolean }).triggered ? TRUE : FALSE);
    else this.object(v);
  }

  private object(v: object): void {
    const kind = v.constructor?.name;
    if (kind === "LdcChannel" || kind === "Hypervisor" || kind === "Simulator") {
      this.str(kind);
      return;
    }
    const o = v as Record<string, unknown>;
    const at = this.n;
    this.raw(OBJ);
    this.raw(0);
    let count = 0;
    for (const k in o) {
      if (!Object.hasOwn(o, k)) continue;
      const x = o[k];
      // JSON leaves out a member whose value it cannot write.
      if (x === undefined || typeof x === "function" || typeof x === "symbol") continue;
      this.raw(intern(k));
      this.value(x);
      count++;
    }
    this.buf[at + 1] = count;
  }

  private view(v: ArrayBufferView): void {
    if (v.byteLength > VIEW_INLINE_BYTES || v instanceof DataView || isBigView(v)) {
      this.bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      return;
    }
    const a = v as unknown as ArrayLike<number>;
    this.raw(VIEW);
    this.raw(a.length);
    for (let i = 0; i < a.length; i++) this.raw(a[i]!);
  }

  /** Writes the named fields of `o` (private ones included), each as value() reads it. */
  fields(o: object, names: readonly string[]): void {
    const r = o as Record<string, unknown>;
    this.list(names.length);
    for (const n of names) this.value(r[n]);
  }

  /** The stream so far, hashed. */
  digest(): bigint {
    return Bun.hash.wyhash(new Uint8Array(this.buf.buffer, 0, this.n * 8));
  }
}

function isBigView(v: ArrayBufferView): boolean {
  return v instanceof BigInt64Array || v instanceof BigUint64Array;
}

/** Fields of a policy that only count (history, not state): left out of the state key. */
const COUNTERS = new Set(["allocations", "failures"]);
export function policyFields(o: object): string[] {
  return Object.keys(o).filter((k) => !COUNTERS.has(k) && k !== "inner");
}

/**
 * A guest's local policy as far as its future depends on it: the checked wrapper's page states
 * and the policy's own fields (free bitmap, held ranges, next-fit hints), counters left out.
 */
export function policyKey(w: KeyWriter, policy: object): void {
  const p = policy as { inner?: object };
  w.fields(policy, policyFields(policy));
  if (p.inner) w.fields(p.inner, policyFields(p.inner));
}

/** What a policy replay holds that the state key reads: the meter's live records. */
type Replay = { meter: { ops: number[]; length: number } };

/**
 * A window's global policy (lost in a crash, rebuilt on restart) and the work its calls have yet
 * to charge to the broker's CPU.
 */
export function globalPolicyKey(
  w: KeyWriter,
  broker: DvmaBroker,
  devhandle: number,
  swap: GuestSwap | null,
): void {
  const p = broker.policies.get(devhandle);
  const replays = (broker.policies as unknown as { replays: Map<number, Replay> }).replays;
  const m = replays.get(devhandle)?.meter;
  if (p === undefined) w.raw(NULL);
  else if (swap !== null) swap.globalPolicy(w, p);
  else policyKey(w, p);
  if (m === undefined) w.raw(NULL);
  else {
    w.list(m.length);
    for (let i = 0; i < m.length; i++) w.num(m.ops[i]!);
  }
}

/** Numbers per pending event in writeKey's `pending`: list, delay, name, steps, actor. */
export const PENDING_WIDTH = 5;

/** The pending events as a multiset: each renamed (with `swap`), then sorted. */
export function writePending(
  w: KeyWriter,
  pending: readonly number[],
  swap: GuestSwap | null,
): void {
  const n = pending.length / PENDING_WIDTH;
  const rows: number[][] = [];
  for (let r = 0; r < n; r++) {
    const row = pending.slice(r * PENDING_WIDTH, (r + 1) * PENDING_WIDTH);
    // A process (name >= 0) is named by its name; a callback by its code: only a name is renamed.
    if (swap !== null) {
      if (row[2]! >= 0) row[2] = swap.name(row[2]!);
      row[4] = swap.name(row[4]!);
    }
    rows.push(row);
  }
  rows.sort((a, b) => {
    for (let i = 0; i < PENDING_WIDTH; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return 0;
  });
  w.list(n);
  for (const row of rows) for (const x of row) w.raw(x);
}
