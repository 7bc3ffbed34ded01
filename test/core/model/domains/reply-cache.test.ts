import { describe, expect, test } from "bun:test";
import { encode, Msg, message } from "../../../../core/model/domains/protocol.ts";
import { RangeSet } from "../../../../core/model/domains/ranges.ts";
import { ReplyCache } from "../../../../core/model/domains/reply-cache.ts";
import type { Hypervisor } from "../../../../core/model/hv/hypervisor.ts";
import { PAGE_SIZE } from "../../../../core/model/machine/memory.ts";

const DH = 0x200;
const BASE = 0x8000_0000;
const hv = { iommus: new Map([[DH, { windowBase: BASE }]]) } as unknown as Hypervisor;
const grant = (id: number, index: number, npages: number) =>
  encode(message(Msg.DVMA_GRANT, { id, devhandle: DH, base: BASE + index * PAGE_SIZE, npages }));

describe("reply cache", () => {
  test("a grant kept aside stops answering once its pages are released, even if granted again", () => {
    const ledger = new RangeSet();
    const cache = new ReplyCache(1, hv, new Map([[DH, ledger]]));
    ledger.add(0, 4);
    cache.set(1, grant(1, 0, 4));
    cache.set(2, grant(2, 8, 1)); // pushes grant 1 aside: its pages are still granted
    expect(cache.get(1)).toBeDefined();
    // The guest releases pages 0..3 and a later request is granted the same pages.
    ledger.remove(0, 4);
    cache.released(DH, 0, 4);
    ledger.add(0, 4);
    expect(cache.get(1)).toBeUndefined();
  });

  test("pages given back on another root complex, or on none known, leave a kept grant alone", () => {
    const DH2 = 0x300;
    const two = {
      iommus: new Map([
        [DH, { windowBase: BASE }],
        [DH2, { windowBase: BASE }],
      ]),
    } as unknown as Hypervisor;
    const ledger = new RangeSet();
    const cache = new ReplyCache(1, two, new Map([[DH, ledger]]));
    ledger.add(0, 4);
    cache.set(1, grant(1, 0, 4));
    cache.set(2, grant(2, 8, 1)); // pushes grant 1 aside
    cache.released(DH2, 0, 4); // the same pages, of the other root complex's window
    cache.released(0x999, 0, 4); // no such root complex
    expect(cache.get(1)).toBeDefined();
    cache.released(DH, 2, 1);
    expect(cache.get(1)).toBeUndefined();
  });
});

describe("reply cache: the stale mark", () => {
  const nack = (id: number) => encode(message(Msg.DVMA_NACK, { id, devhandle: DH, npages: 1 }));

  test("an id is stale only once a reply at or after it was pushed out, and only while none is kept", () => {
    const ledger = new RangeSet();
    const cache = new ReplyCache(2, hv, new Map([[DH, ledger]]));
    cache.set(5, nack(5));
    cache.set(7, nack(7));
    expect([3, 5, 6, 7, 8].map((id) => cache.stale(id))).toEqual(Array(5).fill(false));
    cache.set(6, nack(6)); // pushes out 5
    expect([3, 4, 5, 6, 7, 8].map((id) => cache.stale(id))).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
    // A grant still held is kept aside when pushed out: a resend of it is answered, not stale.
    ledger.add(0, 1);
    cache.set(9, grant(9, 0, 1)); // pushes out 7: the mark is 7
    cache.set(10, nack(10)); // pushes out 6: the mark stays 7
    cache.set(11, nack(11)); // pushes out 9 (kept aside): the mark is 9
    expect([7, 8, 9, 10].map((id) => cache.stale(id))).toEqual([true, true, false, false]);
    // The mark never moves back when an older id is pushed out after a newer one.
    cache.set(2, nack(2)); // pushes out 10
    cache.set(1, nack(1)); // pushes out 11: the mark is 11
    cache.set(3, nack(3)); // pushes out 2: the mark stays 11
    expect([1, 2, 10, 11, 12].map((id) => cache.stale(id))).toEqual([
      false,
      true,
      true,
      true,
      false,
    ]);
  });

  test("ids wrap at 32 bits: the first ids after the wrap are newer than the mark", () => {
    const cache = new ReplyCache(1, hv, new Map());
    for (const id of [0xffff_fffe, 0xffff_ffff, 1, 2]) cache.set(id, nack(id)); // the mark: 1
    expect([0xffff_fffe, 0xffff_ffff, 1, 2, 3, 0x8000_0000].map((id) => cache.stale(id))).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });
});
