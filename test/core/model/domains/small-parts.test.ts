// The domains' small parts read exactly: page-range sets, the LDC protocol's packet layout, the
// guest's page allocator and the sparse page-state store.
import { describe, expect, test } from "bun:test";
import { GuestMemory } from "../../../../core/model/domains/guest-memory.ts";
import { PageStates } from "../../../../core/model/domains/page-states.ts";
import {
  decode,
  encode,
  labelPacket,
  MSG_NAMES,
  Msg,
  message,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
} from "../../../../core/model/domains/protocol.ts";
import { RangeSet } from "../../../../core/model/domains/ranges.ts";
import { AddressSpace } from "../../../../core/model/machine/address-space.ts";
import { PAGE_SIZE } from "../../../../core/model/machine/memory.ts";

describe("RangeSet", () => {
  test("ranges stay sorted by base, unmerged; find, covers and overlaps are exact at the edges", () => {
    const s = new RangeSet();
    s.add(10, 5);
    s.add(0, 2);
    s.add(20, 1);
    s.add(15, 3); // touches [10, 15) but stays a range of its own
    s.add(5, 1);
    expect(s.ranges).toEqual([
      { base: 0, npages: 2 },
      { base: 5, npages: 1 },
      { base: 10, npages: 5 },
      { base: 15, npages: 3 },
      { base: 20, npages: 1 },
    ]);
    expect(s.pages).toBe(12);
    const found = [-1, 0, 1, 2, 4, 5, 6, 9, 10, 14, 15, 17, 18, 19, 20, 21].map((p) => s.find(p));
    expect(found).toEqual([-1, 0, 0, -1, -1, 1, -1, -1, 2, 2, 3, 3, -1, -1, 4, -1]);
    expect(s.covers(10, 5)).toBe(true);
    expect(s.covers(11, 4)).toBe(true);
    expect(s.covers(10, 6)).toBe(false); // runs into the next range: not one range
    expect(s.covers(9, 1)).toBe(false);
    expect(s.covers(20, 1)).toBe(true);
    expect(s.overlaps(2, 3)).toBe(false);
    expect(s.overlaps(2, 4)).toBe(true);
    expect(s.overlaps(18, 2)).toBe(false);
    expect(s.overlaps(17, 1)).toBe(true);
    expect(s.overlaps(21, 100)).toBe(false);
    expect(s.overlaps(-5, 6)).toBe(true);
    expect(s.overlaps(-5, 5)).toBe(false);
    expect(() => s.add(1, 2)).toThrow(new RangeError("range 1+2 overlaps the set"));
    expect(() => s.add(14, 1)).toThrow("range 14+1 overlaps the set");
    expect(s.pages).toBe(12);
  });

  test("remove splits a range into what is left on either side; a range not inside one is refused", () => {
    const s = new RangeSet();
    s.add(10, 10);
    s.add(30, 2);
    s.remove(12, 3);
    expect(s.ranges).toEqual([
      { base: 10, npages: 2 },
      { base: 15, npages: 5 },
      { base: 30, npages: 2 },
    ]);
    s.remove(15, 1);
    s.remove(19, 1);
    expect(s.ranges).toEqual([
      { base: 10, npages: 2 },
      { base: 16, npages: 3 },
      { base: 30, npages: 2 },
    ]);
    s.remove(30, 2);
    expect(s.ranges).toEqual([
      { base: 10, npages: 2 },
      { base: 16, npages: 3 },
    ]);
    expect(() => s.remove(11, 2)).toThrow(new RangeError("range 11+2 is not in the set"));
    expect(() => s.remove(12, 1)).toThrow("range 12+1 is not in the set");
    expect(() => s.remove(9, 1)).toThrow("range 9+1 is not in the set");
    expect(s.pages).toBe(5);
    s.clear();
    expect([s.ranges.length, s.pages, s.find(10)]).toEqual([0, 0, -1]);
  });

  test("find is a binary search that finds every page of many ranges", () => {
    const s = new RangeSet();
    for (let i = 0; i < 37; i++) s.add(i * 7, 1 + (i % 5));
    for (let p = -1; p < 37 * 7 + 2; p++) {
      const want = s.ranges.findIndex((r) => p >= r.base && p < r.base + r.npages);
      expect(s.find(p)).toBe(want);
    }
  });
});

describe("protocol packets", () => {
  test("the layout is the documented one, big-endian", () => {
    const p = encode(
      message(Msg.DVMA_GRANT, {
        id: 0x01020304,
        devhandle: 0x200,
        base: 2 ** 40 + 5,
        npages: 0x1234,
        grant: 8,
        reason: "ok",
      }),
    );
    expect(p.length).toBe(64);
    const want = new Uint8Array(64);
    want.set([5, PROTOCOL_MAJOR, PROTOCOL_MINOR, 0, 1, 2, 3, 4]);
    want.set([0, 0, 0, 0, 0, 0, 2, 0], 8);
    want.set([0, 0, 1, 0, 0, 0, 0, 5], 16);
    want.set([0, 0, 0, 0, 0, 0, 0x12, 0x34], 24);
    want.set([0, 0, 0, 0, 0, 0, 0, 8], 32);
    want.set([0x6f, 0x6b], 40);
    expect([...p]).toEqual([...want]);
    expect(decode(p)).toEqual({
      kind: Msg.DVMA_GRANT,
      major: 2,
      minor: 0,
      id: 0x01020304,
      devhandle: 0x200,
      base: 2 ** 40 + 5,
      npages: 0x1234,
      align: 1,
      grant: 8,
      reason: "ok",
    });
    // A request's bytes 32..39 are its alignment instead, and a grant or an alignment given to
    // the other kind is not sent.
    const q = encode(message(Msg.DVMA_REQ, { npages: 1, align: 16, grant: 3 }));
    expect([...q.subarray(32, 40)]).toEqual([0, 0, 0, 0, 0, 0, 0, 16]);
    expect(decode(q)).toMatchObject({ align: 16, grant: 0 });
    const g = encode(message(Msg.RELEASE_ACK, { align: 16, grant: 2 ** 40 }));
    expect([...g.subarray(32, 40)]).toEqual([0, 0, 1, 0, 0, 0, 0, 0]);
    expect(decode(g)).toMatchObject({ align: 1, grant: 2 ** 40 });
  });

  test("message() fills defaults; encode reuses and clears the buffer it is given", () => {
    expect(message(Msg.VER_INFO)).toEqual({
      kind: 1,
      major: 2,
      minor: 0,
      id: 0,
      devhandle: 0,
      base: 0,
      npages: 0,
      align: 1,
      grant: 0,
      reason: "",
    });
    const out = new Uint8Array(64).fill(0xee);
    expect(encode(message(Msg.RELEASE_ACK, { id: 9 }), out)).toBe(out);
    expect([...out.subarray(0, 8)]).toEqual([8, 2, 0, 0, 0, 0, 0, 9]);
    expect(out.subarray(8).every((b) => b === 0)).toBe(true);
  });

  test("fields at their widths encode; one past, negative or fractional is refused", () => {
    const max = {
      kind: 0xff,
      major: 0xff,
      minor: 0xff,
      id: 0xffff_ffff,
      devhandle: Number.MAX_SAFE_INTEGER,
      base: Number.MAX_SAFE_INTEGER,
      npages: Number.MAX_SAFE_INTEGER,
      align: Number.MAX_SAFE_INTEGER,
      grant: Number.MAX_SAFE_INTEGER,
    };
    const top = message(Msg.DVMA_REQ, max as never);
    const p = encode(top);
    expect([p[0], p[1], p[2], p[4], p[7]]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff]);
    const request = { ...top, kind: Msg.DVMA_REQ };
    expect(decode(encode(request))).toEqual({ ...request, grant: 0 });
    const grant = { ...top, kind: Msg.DVMA_GRANT };
    expect(decode(encode(grant))).toEqual({ ...grant, align: 1 });
    for (const k of Object.keys(max) as (keyof typeof max)[]) {
      for (const bad of [max[k] + 1, -1, 0.5]) {
        const m = { ...message(Msg.DVMA_REQ), [k]: bad };
        expect(() => encode(m)).toThrow(
          new RangeError(`protocol message with a field out of range: ${JSON.stringify(m)}`),
        );
      }
      expect(() => encode({ ...message(Msg.DVMA_REQ), [k]: 0 })).not.toThrow();
    }
  });

  test("a reason is cut to 24 bytes and unprintable characters become '?'", () => {
    const long = "abcdefghijklmnopqrstuvwxyz";
    expect(decode(encode(message(Msg.DVMA_NACK, { reason: long })))?.reason).toBe(
      long.slice(0, 24),
    );
    const odd = `a\u001fb c~\u007fd\u00e9\u0020`;
    expect(decode(encode(message(Msg.DVMA_NACK, { reason: odd })))?.reason).toBe("a?b c~?d? ");
  });

  test("decode refuses a wrong size, an unknown kind, a reserved byte and bad reason bytes", () => {
    const good = () => encode(message(Msg.DVMA_REQ, { id: 3, npages: 1, reason: "x" }));
    expect(decode(good())).not.toBeNull();
    expect(decode(good().subarray(0, 63))).toBeNull();
    expect(decode(new Uint8Array(65))).toBeNull();
    // cut or padded, a packet that would otherwise decode is still refused
    const full23 = encode(message(Msg.DVMA_NACK, { id: 3, reason: "B".repeat(23) }));
    expect(decode(full23)?.reason).toBe("B".repeat(23));
    expect(decode(full23.subarray(0, 63))).toBeNull();
    const padded = new Uint8Array(65);
    padded.set(good());
    expect(decode(padded)).toBeNull();
    expect(decode(padded.subarray(0, 64))).not.toBeNull();
    for (const kind of [0, 9, 0xff]) {
      const p = good();
      p[0] = kind;
      expect(decode(p)).toBeNull();
    }
    for (const kind of Object.values(Msg)) {
      const p = good();
      p[0] = kind;
      expect(decode(p)?.kind).toBe(kind);
    }
    const reserved = good();
    reserved[3] = 1;
    expect(decode(reserved)).toBeNull();
    for (const [at, byte, ok] of [
      [40, 0x1f, false],
      [40, 0x20, true],
      [40, 0x7e, true],
      [40, 0x7f, false],
      [42, 0x41, false], // text after the NUL
      [63, 0x41, false],
    ] as const) {
      const p = good();
      p[at] = byte;
      expect(decode(p) !== null).toBe(ok);
    }
    const full = good();
    full.fill(0x41, 40, 64);
    expect(decode(full)?.reason).toBe("A".repeat(24));
    for (const at of [8, 16, 24, 32]) {
      const p = good();
      new DataView(p.buffer).setBigUint64(at, BigInt(Number.MAX_SAFE_INTEGER) + 1n);
      expect(decode(p)).toBeNull();
      new DataView(p.buffer).setBigUint64(at, BigInt(Number.MAX_SAFE_INTEGER));
      expect(decode(p)).not.toBeNull();
    }
  });

  test("decode reads a packet inside a larger buffer at its offset", () => {
    const big = new Uint8Array(128);
    big.set(encode(message(Msg.DVMA_RELEASE, { id: 77, base: 12, npages: 3 })), 32);
    const m = decode(big.subarray(32, 96));
    expect(m).toMatchObject({ kind: Msg.DVMA_RELEASE, id: 77, base: 12, npages: 3 });
    expect(labelPacket(big.subarray(32, 96))).toEqual({ msg: "DVMA_RELEASE", id: 77 });
  });

  test("labels name the kind and id; unknown kinds show in hex; short packets have id 0", () => {
    expect(MSG_NAMES[Msg.VER_NACK]).toBe("VER_NACK");
    expect(Object.keys(MSG_NAMES).length).toBe(8);
    expect(labelPacket(encode(message(Msg.DVMA_GRANT, { id: 0x10203 })))).toEqual({
      msg: "DVMA_GRANT",
      id: 0x10203,
    });
    expect(labelPacket(new Uint8Array([0xab, 0, 0, 0, 0, 0, 0, 5]))).toEqual({
      msg: "0xab",
      id: 5,
    });
    expect(labelPacket(new Uint8Array([4, 0, 0, 0, 0, 0, 9]))).toEqual({ msg: "DVMA_REQ", id: 0 });
    expect(labelPacket(new Uint8Array(0))).toEqual({ msg: "0x0", id: 0 });
  });
});

describe("GuestMemory", () => {
  const RA = 0x4000_0000;
  const mem = (npages: number) =>
    new GuestMemory(new AddressSpace([{ raBase: RA, paPage: 100, npages }]));

  test("next-fit from after the last allocation; runs never wrap past the end", () => {
    const m = mem(10);
    expect(m.freePages).toBe(10);
    expect(m.alloc(3)).toBe(RA);
    expect(m.alloc(2)).toBe(RA + 3 * PAGE_SIZE);
    m.free(RA, 3);
    expect(m.freePages).toBe(8);
    // next fit: continues at page 5, not at the freed page 0
    expect(m.alloc(2)).toBe(RA + 5 * PAGE_SIZE);
    expect(m.alloc(3)).toBe(RA + 7 * PAGE_SIZE);
    // hint is back at 0 (10 % 10): the freed pages 0..2 are found
    expect(m.alloc(3)).toBe(RA);
    expect(m.freePages).toBe(0);
    expect(m.alloc(1)).toBe(-1);
    m.free(RA + 9 * PAGE_SIZE, 1);
    m.free(RA, 1);
    // pages 9 and 0 are free but not contiguous: a run does not wrap
    expect(m.alloc(2)).toBe(-1);
    // the hint is at 3: page 9 is found first, then page 0
    expect(m.alloc(1)).toBe(RA + 9 * PAGE_SIZE);
    expect(m.alloc(1)).toBe(RA);
  });

  test("a run found after a used page starts at the first free page of that run", () => {
    const m = mem(8);
    expect(m.alloc(1)).toBe(RA);
    expect(m.alloc(1)).toBe(RA + PAGE_SIZE);
    expect(m.alloc(1)).toBe(RA + 2 * PAGE_SIZE);
    m.free(RA + PAGE_SIZE, 1);
    expect(m.alloc(5)).toBe(RA + 3 * PAGE_SIZE);
    expect(m.alloc(1)).toBe(RA + PAGE_SIZE);
    expect(m.alloc(8)).toBe(-1);
    expect(m.freePages).toBe(0);
    const n = mem(4);
    expect(n.alloc(4)).toBe(RA);
    n.free(RA + PAGE_SIZE, 2);
    expect(n.alloc(3)).toBe(-1);
    expect(n.alloc(2)).toBe(RA + PAGE_SIZE);
  });

  test("freeing a page not allocated is refused at that page", () => {
    const m = mem(4);
    m.alloc(2);
    expect(() => m.free(RA + PAGE_SIZE, 2)).toThrow(
      new RangeError("guest page 2 freed but not allocated"),
    );
    expect(m.freePages).toBe(2);
  });
});

describe("PageStates", () => {
  test("blocks of 1,024 pages appear and go with their first and last non-zero page", () => {
    const s = new PageStates(3000);
    expect(s.bytes).toBe(0);
    s.fill(0, 0, 3000);
    expect(s.bytes).toBe(0);
    s.fill(2, 1023, 1025);
    expect([s.get(1022), s.get(1023), s.get(1024), s.get(1025)]).toEqual([0, 2, 2, 0]);
    expect(s.bytes).toBe(2048);
    s.fill(1, 1023, 1024);
    expect(s.get(1023)).toBe(1);
    expect(s.bytes).toBe(2048);
    s.fill(0, 1023, 1024);
    expect(s.bytes).toBe(1024);
    s.fill(3, 2999, 3000);
    expect([s.get(2999), s.bytes]).toEqual([3, 2048]);
    s.fill(0, 0, 3000);
    expect(s.bytes).toBe(0);
    expect(s.get(1024)).toBe(0);
    s.fill(5, 10, 10);
    expect(s.bytes).toBe(0);
    expect(s.firstNot(0, 0, 3000)).toBe(-1);
    s.fill(4, 2047, 2049);
    expect([s.firstNot(0, 0, 3000), s.firstNot(4, 2047, 2049), s.firstNot(4, 2047, 2050)]).toEqual([
      2047, -1, 2049,
    ]);
    expect([s.get(-1), s.get(5000)]).toEqual([0, 0]);
  });
});
