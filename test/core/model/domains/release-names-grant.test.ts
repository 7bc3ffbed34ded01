// A release the broker served while every reply to it was lost for longer than it keeps replies,
// and meanwhile the same range granted to the same guest again: when a reply finally gets
// through, the release must not take back the newer grant the guest is using.
import { describe, expect, test } from "bun:test";
import { invariantViolations } from "../../../../core/model/domains/invariants.ts";
import { decode, type Message, Msg, message } from "../../../../core/model/domains/protocol.ts";
import { ownedRuns } from "../../../../core/model/hv/invariants.ts";
import { bootSmall, runProc } from "../../../helpers/platform.ts";

const DH = 0x200;
const WINDOW_BASE = 0x8000_0000;
const PAGE = 8192;

/**
 * Two guests. While `lose.on`, of one release (`lose.msg`, by its id) the first copy reaches the
 * broker and every reply and every resend is lost: the first resend to arrive comes after.
 */
function rig() {
  const lose: { on: boolean; msg: Message | null; copies: number } = {
    on: false,
    msg: null,
    copies: 0,
  };
  const b = bootSmall({
    guests: 2,
    windowPages: 64,
    fate: (_channel, pkt) => {
      const m = lose.on ? decode(pkt) : null;
      if (m === null || m.id !== lose.msg?.id) return 1;
      if (m.kind === Msg.RELEASE_ACK) return 0;
      return m.kind === Msg.DVMA_RELEASE && lose.copies++ > 0 ? 0 : 1;
    },
  });
  const [g1, g2] = b.platform.guests as [
    (typeof b.platform.guests)[0],
    (typeof b.platform.guests)[0],
  ];
  expect(runProc(b, g1.link.handshake())).toBe(true);
  expect(runProc(b, g2.link.handshake())).toBe(true);
  const ask = (g: typeof g1, m: Message) => runProc(b, g.link.ask(m), 1e7)!;
  const request = (g: typeof g1, npages: number) => {
    const reply = ask(g, message(Msg.DVMA_REQ, { devhandle: DH, npages }));
    expect(reply.kind).toBe(Msg.DVMA_GRANT);
    return { index: (reply.base - WINDOW_BASE) / PAGE, npages, base: reply.base };
  };
  const release = (g: typeof g1, r: { base: number; npages: number }) =>
    ask(g, message(Msg.DVMA_RELEASE, { devhandle: DH, base: r.base, npages: r.npages }));
  return { b, g1, g2, lose, request, release };
}

describe("a release whose every reply is lost past the reply cache", () => {
  test("does not take back the same range granted to the guest again meanwhile", () => {
    const { b, g1, g2, lose, request, release } = rig();
    const { broker, hv, sim } = b;
    const first = request(g1, 4);
    expect(first.index).toBe(0);
    const rel = message(Msg.DVMA_RELEASE, { devhandle: DH, base: first.base, npages: 4 });
    lose.on = true;
    lose.msg = rel; // its id is stamped when the ask starts
    const releasing = sim.spawn(g1.link.ask(rel, true), "release");
    sim.run(sim.now + 100_000);
    expect(broker.grantsOf(g1.id, DH)).toEqual([]); // served: the range is free
    expect(releasing.finished).toBe(false); // but the guest heard nothing
    // 300 request/release pairs: 600 newer replies, far past the broker's 256.
    for (let i = 0; i < 300; i++) release(g1, request(g1, 1));
    const again = request(g1, 4);
    expect(again.index).toBe(first.index); // first fit: the same range, to the same guest
    expect(releasing.finished).toBe(false);
    expect(lose.copies).toBeGreaterThan(5); // resent all along, none arrived
    lose.on = false; // the next resend of the release arrives and is answered
    sim.run(sim.now + 500_000_000);
    expect(releasing.finished).toBe(true);
    // The broker's ledger for the guest is what the guest holds: the newer grant.
    expect(broker.grantsOf(g1.id, DH)).toEqual([{ base: again.index, npages: 4 }]);
    expect(ownedRuns(hv.iommus.get(DH)!).slice(0, 3)).toEqual([0, 4, g1.id]);
    // No range is owned twice: the other guest gets pages the first does not hold.
    const other = request(g2, 4);
    expect(other.index).toBeGreaterThanOrEqual(4);
    expect(invariantViolations(hv, broker)).toEqual([]);
  });
});
