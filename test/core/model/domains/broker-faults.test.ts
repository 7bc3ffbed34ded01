import { describe, expect, test } from "bun:test";
import { encode, Msg, message } from "../../../../core/model/domains/protocol.ts";
import { bootSmall, runProc } from "../../../helpers/platform.ts";

const DH = 0x200;

describe("the broker under faults and misuse", () => {
  test("a resend after a restart gets the journaled grant back: one grant, the same range", () => {
    const b = bootSmall({ guests: 1, windowPages: 64 });
    const g = b.platform.guests[0]!;
    expect(runProc(b, g.link.handshake())).toBe(true);
    const req = message(Msg.DVMA_REQ, { devhandle: DH, npages: 4 });
    const first = runProc(b, g.link.ask(req))!;
    expect(first.kind).toBe(Msg.DVMA_GRANT);
    // A resend of the same request still on its way when the broker restarts: the grant journal
    // outlived the crash, so it is answered with the same grant (which the guest already took).
    b.broker.crash();
    b.broker.restart();
    expect(g.channel.send(g.id, encode(req))).toBe(0);
    b.sim.run(b.sim.now + 1e8);
    expect(b.broker.stats.grants).toBe(1);
    expect(b.broker.stats.replays).toBe(1);
    expect(g.link.stats.strayGrantsReleased).toBe(0);
    const index = (first.base - 0x8000_0000) / 8192;
    expect(b.broker.grantsOf(g.id, DH)).toEqual([{ base: index, npages: 4 }]);
  });

  test("a request before the version handshake is refused, and grants nothing", () => {
    const b = bootSmall({ guests: 1, windowPages: 64 });
    const g = b.platform.guests[0]!;
    const reply = runProc(b, g.link.ask(message(Msg.DVMA_REQ, { devhandle: DH, npages: 4 })))!;
    expect(reply.kind).toBe(Msg.DVMA_NACK);
    expect(reply.reason).toBe("no-handshake");
    expect(b.broker.grantsOf(g.id, DH)).toEqual([]);
    expect(runProc(b, g.link.handshake())).toBe(true);
    const again = runProc(b, g.link.ask(message(Msg.DVMA_REQ, { devhandle: DH, npages: 4 })))!;
    expect(again.kind).toBe(Msg.DVMA_GRANT);
  });

  test("a request for no pages or more than the window is refused before the policy sees it", () => {
    const b = bootSmall({ guests: 1, windowPages: 64 });
    const g = b.platform.guests[0]!;
    expect(runProc(b, g.link.handshake())).toBe(true);
    for (const npages of [0, 65]) {
      const r = runProc(b, g.link.ask(message(Msg.DVMA_REQ, { devhandle: DH, npages })))!;
      expect([r.kind, r.reason]).toEqual([Msg.DVMA_NACK, "bad-npages"]);
    }
    expect(b.broker.grantsOf(g.id, DH)).toEqual([]);
  });
});
