import { describe, expect, test } from "bun:test";
import { encode, Msg, message } from "../../../core/model/domains/protocol.ts";
import { bootSmall, runProc } from "../../helpers/platform.ts";

const DH = 0x200;

describe("broker faults: a grant nobody holds goes back", () => {
  test("a request granted again after a restart (its reply forgotten): the second grant returns, the first stays", () => {
    const b = bootSmall({ guests: 1, windowPages: 64 });
    const g = b.platform.guests[0]!;
    expect(runProc(b, g.link.handshake())).toBe(true);
    const req = message(Msg.DVMA_REQ, { devhandle: DH, npages: 4 });
    const first = runProc(b, g.link.ask(req))!;
    expect(first.kind).toBe(Msg.DVMA_GRANT);
    // A resend of the same request still on its way when the broker restarts: granted afresh.
    b.broker.crash();
    b.broker.restart();
    expect(g.channel.send(g.id, encode(req))).toBe(0);
    b.sim.run(b.sim.now + 1e8);
    expect(b.broker.stats.grants).toBe(2);
    expect(g.link.stats.strayGrantsReleased).toBe(1);
    const index = (first.base - 0x8000_0000) / 8192;
    expect(b.broker.grantsOf(g.id, DH)).toEqual([{ base: index, npages: 4 }]);
  });
});
