// A stale resend of a request that arrives after more newer replies than the broker's reply
// cache holds, once its grant has been given back: it must grant nothing.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { invariantViolations } from "../../../../core/model/domains/invariants.ts";
import {
  decode,
  encode,
  type Message,
  Msg,
  message,
} from "../../../../core/model/domains/protocol.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";
import { bootSmall, runProc } from "../../../helpers/platform.ts";

const DH = 0x200;
const WINDOW_BASE = 0x8000_0000;

describe("a stale resend after the reply cache has moved on", () => {
  test("is refused as stale: nothing granted, the ledger stays empty", () => {
    const b = bootSmall({ guests: 1, windowPages: 64 });
    const g = b.platform.guests[0]!;
    expect(runProc(b, g.link.handshake())).toBe(true);
    const ask = (npages: number) => {
      const req = message(Msg.DVMA_REQ, { devhandle: DH, npages });
      const grant = runProc(b, g.link.ask(req))!;
      expect(grant.kind).toBe(Msg.DVMA_GRANT);
      const rel = message(Msg.DVMA_RELEASE, { devhandle: DH, base: grant.base, npages });
      expect(runProc(b, g.link.ask(rel))!.kind).toBe(Msg.RELEASE_ACK);
      return { req, grant };
    };
    const first = ask(4);
    // 300 more request/release pairs: 600 newer replies, far past the cache's 256.
    for (let i = 0; i < 300; i++) ask(1 + (i % 3));
    expect(b.broker.grantsOf(g.id, DH)).toEqual([]);
    const grantsBefore = b.broker.stats.grants;
    const nacks: string[] = [];
    b.bus.on("dvma.nack", (e) => nacks.push(`${e.id}:${e.reason}`));
    expect(g.channel.send(g.id, encode(first.req))).toBe(0);
    b.sim.run(b.sim.now + 1e8);
    // First fit would grant the same range again, which the guest ignores as a duplicate of the
    // grant it took (and gave back long ago): a leak until the guest exits.
    expect((first.grant.base - WINDOW_BASE) / 8192).toBe(0);
    expect(b.broker.grantsOf(g.id, DH)).toEqual([]);
    expect(b.broker.stats.grants).toBe(grantsBefore);
    expect(nacks).toEqual([`${first.req.id}:stale`]);
    expect(g.link.stats.strayGrantsReleased).toBe(0);
  });
});

describe("a stale release after the reply cache has moved on", () => {
  test("is refused: the same range, granted to the guest again since, stays granted", () => {
    const b = bootSmall({ guests: 1, windowPages: 64 });
    const g = b.platform.guests[0]!;
    expect(runProc(b, g.link.handshake())).toBe(true);
    const pair = (npages: number) => {
      const grant = runProc(b, g.link.ask(message(Msg.DVMA_REQ, { devhandle: DH, npages })))!;
      const rel = message(Msg.DVMA_RELEASE, { devhandle: DH, base: grant.base, npages });
      expect(runProc(b, g.link.ask(rel))).toMatchObject({ kind: Msg.RELEASE_ACK, reason: "" });
      return rel;
    };
    const first = pair(4);
    for (let i = 0; i < 300; i++) pair(1);
    const again = runProc(b, g.link.ask(message(Msg.DVMA_REQ, { devhandle: DH, npages: 4 })))!;
    expect(again.base).toBe(first.base); // first fit: the same range, to the same guest
    expect(g.channel.send(g.id, encode(first))).toBe(0);
    b.sim.run(b.sim.now + 1e8);
    expect(b.broker.grantsOf(g.id, DH)).toEqual([{ base: 0, npages: 4 }]);
  });
});

describe("no DVMA leaks through stale resends", () => {
  test("random requests, releases (some with every reply lost a while), stale resends of both, fillers past the reply cache, crashes and restarts, with loss: the ledger equals what the guest holds", () => {
    const seen = { staleRefused: 0, deadReleases: 0, staleSent: 0, restarts: 0, regranted: 0 };
    const op = fc.oneof(
      fc.record({ op: fc.constant("req" as const), npages: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ op: fc.constant("rel" as const), k: fc.nat() }),
      // A release served whose every reply and resend is lost until "hear", then newer replies
      // (past the reply cache from 128 pairs) and often a request of the same size (first fit:
      // the same range, granted again).
      {
        arbitrary: fc.record({
          op: fc.constant("mute" as const),
          k: fc.nat(),
          pairs: fc.integer({ min: 0, max: 200 }),
          again: fc.boolean(),
        }),
        weight: 2,
      },
      fc.record({ op: fc.constant("hear" as const) }),
      { arbitrary: fc.record({ op: fc.constant("stale" as const), k: fc.nat() }), weight: 3 },
      {
        arbitrary: fc.record({
          op: fc.constant("fill" as const),
          pairs: fc.integer({ min: 1, max: 200 }),
        }),
        weight: 2,
      },
      fc.record({ op: fc.constant("crash" as const) }),
      fc.record({ op: fc.constant("restart" as const) }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(0, 0.1),
        fc.array(op, { minLength: 4, maxLength: 16 }),
        fc.integer({ min: 1, max: 1000 }),
        (loss, ops, seed) => {
          /** Releases whose every reply and resend is lost until "hear". */
          const muted: { m: Message; copies: number }[] = [];
          const lossRng = new Rng(seed);
          const b = bootSmall({
            guests: 1,
            windowPages: 64,
            lossRate: loss,
            seed,
            cost: { ldcTimeoutNs: 30_000, ldcRetries: 2 },
            // The loss (lossRate's, from a stream of its own) and, of a muted release, every
            // reply and every copy but the first.
            fate: (_channel, pkt) => {
              const rel = pkt[0] === Msg.RELEASE_ACK || pkt[0] === Msg.DVMA_RELEASE;
              const m = rel ? decode(pkt) : null;
              if (m?.reason === "not-granted") seen.deadReleases++;
              const mute = m === null ? undefined : muted.find((x) => x.m.id === m.id);
              if (mute !== undefined && (m!.kind === Msg.RELEASE_ACK || mute.copies++ > 0))
                return 0;
              return lossRng.chance(loss) ? 0 : 1;
            },
          });
          const { broker, hv, sim } = b;
          const g = b.platform.guests[0]!;
          for (let k = 0; !runProc(b, g.link.handshake()); k++) expect(k).toBeLessThan(20);
          const staleNacksBefore = seen.staleRefused;
          b.bus.on("dvma.nack", (e) => {
            if (e.reason === "stale") seen.staleRefused++;
          });
          /** Grants the guest took and still holds, by request id. */
          const held = new Map<number, { base: number; npages: number }>();
          /** Every request and release sent, as encoded (what a stale resend sends again). */
          const sent: Uint8Array[] = [];
          const request = (npages: number) => {
            const req = message(Msg.DVMA_REQ, { devhandle: DH, npages });
            const reply = runProc(b, g.link.ask(req));
            sent.push(encode(req));
            if (reply?.kind === Msg.DVMA_GRANT) {
              held.set(req.id, { base: reply.base, npages });
              // The very range of a release not heard yet, granted again.
              if (muted.some(({ m }) => m.base === reply.base && m.npages === npages))
                seen.regranted++;
            }
            return req.id;
          };
          const release = (id: number, mute = false) => {
            const { base, npages } = held.get(id)!;
            held.delete(id);
            const rel = message(Msg.DVMA_RELEASE, { devhandle: DH, base, npages });
            if (mute) muted.push({ m: rel, copies: 0 }); // its id is stamped when the ask starts
            // Persistent: it completes once the broker is up; the guest need not wait for it.
            sim.spawn(g.link.ask(rel, true));
            sim.run(sim.now + 1e6);
            sent.push(encode(rel)); // with the id the ask gave it
          };
          /** Newer replies, enough in one go to push everything out of the cache. */
          const fill = (pairs: number) => {
            if (broker.isUp)
              for (let k = 0; k < pairs; k++) {
                const id = request(1);
                if (held.has(id)) release(id);
              }
          };
          for (const o of ops) {
            switch (o.op) {
              case "req":
                request(o.npages);
                break;
              case "rel": {
                const ids = [...held.keys()];
                if (ids.length > 0) release(ids[o.k % ids.length]!);
                break;
              }
              case "mute": {
                const ids = [...held.keys()];
                if (ids.length === 0) break;
                const id = ids[o.k % ids.length]!;
                const { npages } = held.get(id)!;
                release(id, true);
                fill(o.pairs);
                if (o.again) request(npages);
                break;
              }
              case "hear":
                muted.length = 0;
                break;
              case "stale":
                if (sent.length > 0) {
                  seen.staleSent++;
                  // Mostly the first requests (long answered), else any.
                  const at =
                    o.k % 2 === 0 ? (o.k >> 1) % Math.min(4, sent.length) : o.k % sent.length;
                  g.channel.send(g.id, sent[at]!);
                  sim.run(sim.now + 1e6);
                }
                break;
              case "fill":
                fill(o.pairs);
                break;
              case "crash":
                broker.crash();
                break;
              case "restart":
                if (!broker.isUp) {
                  seen.restarts++;
                  broker.restart();
                }
                break;
            }
          }
          muted.length = 0;
          if (!broker.isUp) broker.restart();
          sim.run(sim.now + 1e9);
          // Releases are never refused as stale: a release acts only on the live grant it names.
          expect(broker.stats.stale).toBe(seen.staleRefused - staleNacksBefore);
          expect(invariantViolations(hv, broker)).toEqual([]);
          const pages = (rs: Iterable<{ base: number; npages: number }>) => {
            const out: number[] = [];
            for (const r of rs) for (let i = 0; i < r.npages; i++) out.push(r.base + i);
            return out.sort((x, y) => x - y);
          };
          const toIndex = (r: { base: number; npages: number }) => ({
            base: (r.base - WINDOW_BASE) / 8192,
            npages: r.npages,
          });
          expect(pages(broker.grantsOf(g.id, DH))).toEqual(pages([...held.values()].map(toIndex)));
        },
      ),
      { numRuns: 40 },
    );
    expect(seen.staleRefused).toBeGreaterThan(5);
    expect(seen.deadReleases).toBeGreaterThan(5);
    expect(seen.regranted).toBeGreaterThan(5);
    expect(seen.staleSent).toBeGreaterThan(20);
    expect(seen.restarts).toBeGreaterThan(5);
  }, 120_000);
});
