// A guest's lease table and the broker's reply cache, driven directly: counts, timers, what is kept
// and what is dropped, at the edges of each range.
import { describe, expect, test } from "bun:test";
import {
  type Lease,
  LeaseTable,
  leaseWithFallback,
} from "../../../../core/model/domains/leases.ts";
import { encode, Msg, message } from "../../../../core/model/domains/protocol.ts";
import { RangeSet } from "../../../../core/model/domains/ranges.ts";
import { ReplyCache } from "../../../../core/model/domains/reply-cache.ts";
import type { Proc } from "../../../../core/model/sim/kernel.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
import { smallHv, WINDOW_BASE } from "../../../helpers/small-machine.ts";

const DH = 0x200;

describe("LeaseTable", () => {
  function table(idleNs: number) {
    const sim = new Simulator();
    const idle: [number, number][] = [];
    const t = new LeaseTable(sim, idleNs, (l) => idle.push([sim.now, l.base]));
    return { sim, t, idle };
  }
  const lives = (t: LeaseTable) => t.all.map((l) => [l.base, l.npages, l.live]);

  test("leases stay sorted by base; a mapping counts in every lease it overlaps, and only those", () => {
    const { t } = table(0);
    t.insert(20, 10);
    t.insert(0, 10);
    t.insert(10, 10);
    t.insert(40, 4);
    expect(t.all.map((l) => l.base)).toEqual([0, 10, 20, 40]);
    expect(t.all.map((l) => [l.live, l.idleTimer])).toEqual(Array(4).fill([0, -1]));
    t.use(9, 2); // pages 9 and 10: the first two leases
    t.use(19, 1);
    t.use(30, 10); // between leases: none
    t.use(43, 1);
    t.use(44, 5);
    t.use(0, 1);
    expect(lives(t)).toEqual([
      [0, 10, 2],
      [10, 10, 2],
      [20, 10, 0],
      [40, 4, 1],
    ]);
    t.unuse(9, 2);
    expect(lives(t).map((l) => l[2])).toEqual([1, 1, 0, 1]);
    const second = t.all[1] as Lease;
    t.drop(second);
    expect(t.all.map((l) => l.base)).toEqual([0, 20, 40]);
    t.use(5, 40);
    expect(lives(t).map((l) => l[2])).toEqual([2, 1, 2]);
    expect(t.all.every((l) => l.idleTimer === -1)).toBe(true);
  });

  test("many leases: the search finds the first lease ending after a page", () => {
    const { t } = table(0);
    for (let i = 0; i < 33; i++) t.insert(i * 4, 3); // [4i, 4i + 3), gaps at 4i + 3
    for (let p = 0; p < 33 * 4; p++) {
      t.use(p, 1);
      const hit = t.all.findIndex((l) => l.live > 0);
      expect(hit).toBe(p % 4 === 3 ? -1 : Math.floor(p / 4));
      t.unuse(p, 1);
      if (hit >= 0) expect(t.all[hit]!.live).toBe(0);
    }
  });

  test("a lease idle for idleNs is handed back once; a use in between cancels it", () => {
    const { sim, t, idle } = table(1000);
    t.insert(0, 8);
    t.insert(8, 8);
    t.use(0, 16);
    t.use(0, 1);
    t.unuse(0, 16); // lease 0 still has one mapping; lease 8 goes idle
    expect([t.all[0]!.idleTimer, t.all[1]!.idleTimer >= 0]).toEqual([-1, true]);
    sim.run(999);
    expect(idle).toEqual([]);
    sim.run(1000);
    expect(idle).toEqual([[1000, 8]]);
    expect(t.all[1]!.idleTimer).toBe(-1);
    t.unuse(0, 1);
    sim.run(1500);
    t.use(2, 1); // a mapping again before the timer ends: cancelled
    expect(t.all[0]!.idleTimer).toBe(-1);
    sim.run(5000);
    expect(idle).toEqual([[1000, 8]]);
    t.unuse(2, 1);
    t.drop(t.all[0]!); // dropped before its timer ends: not handed back
    sim.run(10_000);
    expect(idle).toEqual([[1000, 8]]);
    expect(sim.pending).toBe(0);
  });

  test("with idleNs 0 leases are kept: no timer at all", () => {
    const { sim, t, idle } = table(0);
    t.insert(0, 4);
    t.use(0, 1);
    t.unuse(0, 1);
    expect(t.all[0]!.idleTimer).toBe(-1);
    expect(sim.pending).toBe(0);
    sim.run(1e9);
    expect(idle).toEqual([]);
  });

  test("a timer that fires while the lease is live again hands nothing back", () => {
    const { sim, t, idle } = table(100);
    t.insert(0, 4);
    t.use(0, 1);
    t.unuse(0, 1);
    t.all[0]!.live = 1; // counted live without use(): the timer still runs
    sim.run(200);
    expect(idle).toEqual([]);
    expect(t.all[0]!.idleTimer).toBe(-1);
  });

  test("leaseWithFallback halves after each nack down to the need; other answers end it", () => {
    const run = (want: number, need: number, answer: (n: number) => number | string) => {
      const asked: number[] = [];
      // biome-ignore lint/correctness/useYield: a stand-in for the broker that answers at once.
      const ask = function* (n: number): Proc<number | string> {
        asked.push(n);
        return answer(n);
      };
      const g = leaseWithFallback(want, need, ask);
      const r = g.next();
      expect(r.done).toBe(true);
      return { got: r.value, asked };
    };
    expect(run(64, 3, (n) => (n > 10 ? "nack: full" : n))).toEqual({
      got: 8,
      asked: [64, 32, 16, 8],
    });
    expect(run(64, 3, () => "nack: full")).toEqual({
      got: "nack: full",
      asked: [64, 32, 16, 8, 4, 3],
    });
    expect(run(2, 5, () => "nack: full")).toEqual({ got: "nack: full", asked: [5] });
    expect(run(64, 3, () => "timeout")).toEqual({ got: "timeout", asked: [64] });
    expect(run(64, 64, () => "nack: x")).toEqual({ got: "nack: x", asked: [64] });
    expect(run(9, 4, () => "nack:")).toEqual({ got: "nack:", asked: [9, 4] });
  });
});

describe("ReplyCache", () => {
  const grant = (id: number, index: number, npages: number, devhandle = DH) =>
    encode(message(Msg.DVMA_GRANT, { id, devhandle, base: WINDOW_BASE + index * 8192, npages }));
  const nack = (id: number) => encode(message(Msg.DVMA_NACK, { id, reason: "full" }));
  function cache(size: number) {
    const hv = smallHv({ windowPages: 64 });
    const set = new RangeSet();
    const ledger = new Map([[DH, set]]);
    return { c: new ReplyCache(size, hv, ledger), set, ledger };
  }

  test("the most recent replies answer; an old one pushed out is kept only while still granted", () => {
    const { c, set } = cache(2);
    set.add(0, 4);
    c.set(1, grant(1, 0, 4)); // still granted: kept aside when pushed out
    c.set(2, grant(2, 8, 2)); // not in the ledger: forgotten
    c.set(3, nack(3));
    expect(c.get(1)).toEqual(grant(1, 0, 4));
    c.set(4, nack(4));
    expect([c.get(1) !== undefined, c.get(2), c.get(3) !== undefined]).toEqual([
      true,
      undefined,
      true,
    ]);
    c.set(5, nack(5));
    expect(c.get(3)).toBeUndefined(); // a nack is never kept aside
    expect(c.get(5)).toEqual(nack(5));
    // the same id again replaces its reply, not another
    c.set(5, nack(55));
    expect(c.get(5)).toEqual(nack(55));
    expect(c.get(4)).toEqual(nack(4));
  });

  test("a grant is kept only while its whole range is granted, on its own devhandle", () => {
    const { c, set } = cache(0);
    set.add(0, 4);
    c.set(1, grant(1, 0, 5)); // one page more than granted
    c.set(2, grant(2, 1, 3));
    c.set(3, grant(3, 0, 4, 0x300)); // no such root complex
    c.set(
      4,
      encode(message(Msg.RELEASE_ACK, { id: 4, devhandle: DH, base: WINDOW_BASE, npages: 1 })),
    );
    const bad = grant(5, 0, 1);
    bad[3] = 1; // does not decode
    c.set(5, bad);
    expect([1, 2, 3, 4, 5].map((id) => c.get(id) !== undefined)).toEqual([
      false,
      true,
      false,
      false,
      false,
    ]);
  });

  test("kept grants whose pages went back are pruned when the kept set passes twice the size", () => {
    const { c, set } = cache(1);
    for (let i = 0; i < 6; i++) set.add(i * 2, 2);
    for (let i = 0; i < 4; i++) c.set(i, grant(i, i * 2, 2)); // 0, 1, 2 kept aside; 3 recent
    set.remove(0, 2);
    set.remove(2, 2);
    c.set(4, grant(4, 8, 2)); // 3 kept: 3 > 2, prune 0 and 1
    expect([0, 1, 2, 3, 4].map((id) => c.get(id) !== undefined)).toEqual([
      false,
      false,
      true,
      true,
      true,
    ]);
    const { c: d, set: s2 } = cache(1);
    for (let i = 0; i < 2; i++) s2.add(i * 2, 2);
    for (let i = 0; i < 2; i++) d.set(i, grant(i, i * 2, 2)); // 0 kept, 1 recent
    s2.remove(0, 2);
    d.set(2, nack(2)); // 1 kept too: 2 kept is not more than twice the size
    expect(d.get(0)).toEqual(grant(0, 0, 2)); // 2 kept: no prune yet
  });

  test("released pages drop the kept grants that overlap them, on that devhandle only", () => {
    const { c, set } = cache(0);
    for (const [b, n] of [
      [0, 2],
      [2, 2],
      [4, 2],
      [8, 4],
    ])
      set.add(b, n);
    c.set(1, grant(1, 0, 2));
    c.set(2, grant(2, 2, 2));
    c.set(3, grant(3, 4, 2));
    c.set(4, grant(4, 8, 4));
    c.released(0x300, 0, 64); // unknown devhandle: nothing
    c.released(DH, 6, 2); // touches none
    expect([1, 2, 3, 4].map((id) => c.get(id) !== undefined)).toEqual([true, true, true, true]);
    c.released(DH, 3, 2); // pages 3 and 4: grants 2 and 3
    expect([1, 2, 3, 4].map((id) => c.get(id) !== undefined)).toEqual([true, false, false, true]);
    c.released(DH, 11, 1); // the last page of grant 4
    c.released(DH, 1, 1); // the last page of grant 1
    expect([1, 4].map((id) => c.get(id))).toEqual([undefined, undefined]);
  });

  test("a grant on a root complex the guest holds nothing of is not kept", () => {
    const hv = smallHv({ windowPages: 64 });
    hv.iommus.set(0x300, hv.iommus.get(DH)!);
    const a = new RangeSet();
    a.add(0, 2);
    const c = new ReplyCache(0, hv, new Map([[DH, a]]));
    c.set(1, grant(1, 0, 2, 0x300));
    expect(c.get(1)).toBeUndefined();
  });

  test("with room for two, kept grants are pruned only past four", () => {
    const { c, set } = cache(2);
    for (let i = 0; i < 8; i++) set.add(i * 2, 2);
    for (let i = 0; i < 6; i++) c.set(i, grant(i, i * 2, 2)); // 0..3 kept, 4 and 5 recent
    set.remove(0, 2);
    c.set(6, nack(6)); // 4 kept aside too: five kept, pruned: 0 goes
    expect([0, 1, 4].map((id) => c.get(id) !== undefined)).toEqual([false, true, true]);
    const { c: d, set: s2 } = cache(2);
    for (let i = 0; i < 8; i++) s2.add(i * 2, 2);
    for (let i = 0; i < 5; i++) d.set(i, grant(i, i * 2, 2)); // 0..2 kept
    s2.remove(0, 2);
    d.set(5, nack(5)); // four kept: not more than twice the size, no prune
    expect(d.get(0)).toEqual(grant(0, 0, 2));
  });

  test("released() ignores kept grants of another root complex", () => {
    const hv = smallHv({ windowPages: 64 });
    // a second root complex to keep a grant of
    const io = hv.iommus.get(DH)!;
    hv.iommus.set(0x300, io);
    const a = new RangeSet();
    const b = new RangeSet();
    a.add(0, 2);
    b.add(0, 2);
    const c = new ReplyCache(
      0,
      hv,
      new Map([
        [DH, a],
        [0x300, b],
      ]),
    );
    c.set(1, grant(1, 0, 2, 0x300));
    c.set(2, grant(2, 0, 2));
    c.released(DH, 0, 2);
    expect([c.get(1) !== undefined, c.get(2)]).toEqual([true, undefined]);
  });

  test("clear forgets recent and kept replies alike", () => {
    const { c, set } = cache(0);
    set.add(0, 2);
    c.set(1, grant(1, 0, 2));
    c.set(2, nack(2));
    expect(c.get(1)).toEqual(grant(1, 0, 2));
    c.clear();
    expect([c.get(1), c.get(2)]).toEqual([undefined, undefined]);
  });
});
