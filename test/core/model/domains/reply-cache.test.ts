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
});
