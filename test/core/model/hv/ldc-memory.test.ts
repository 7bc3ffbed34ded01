/**
 * LDC shared memory: one side's map table (cookies, slots, the table's bound) and LDC_COPY
 * between a caller and what its peer exported (each refusal, which wins, the pages moved, the
 * cost). Fast on purpose (a mutation run executes it per mutant).
 */
import { describe, expect, test } from "bun:test";
import { EventBus } from "../../../../core/model/events/bus.ts";
import { Hypervisor, RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import { LdcChannel } from "../../../../core/model/hv/ldc.ts";
import {
  LDC_COPY_IN,
  LDC_COPY_OUT,
  LDC_IOTABLE_SIZE,
  LDC_MEM_READ,
  LDC_MEM_WRITE,
  LdcMapTable,
} from "../../../../core/model/hv/ldc-map.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { parseCostModel } from "../../../../core/model/machine/parse.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";
import { smallMachine } from "../../../helpers/small-machine.ts";

const P = 8192;
const RW = LDC_MEM_READ | LDC_MEM_WRITE;
/** One byte past a guest's 8 MiB. */
const END = RA_BASE + 8 * 1024 * 1024;

describe("LDC map table", () => {
  test("constants as in Linux", () => {
    expect([LDC_COPY_IN, LDC_COPY_OUT, LDC_MEM_READ, LDC_MEM_WRITE, LDC_IOTABLE_SIZE]).toEqual([
      0, 1, 1, 2, 8192,
    ]);
  });

  test("a cookie is slot << 13 plus the page offset; lookup needs the same offset", () => {
    const t = new LdcMapTable();
    expect(t.size).toBe(0);
    const a = t.bind(RA_BASE + 100, 50, LDC_MEM_READ);
    const b = t.bind(RA_BASE + 3 * P, P, RW);
    expect([a, b]).toEqual([100, P]);
    expect(t.size).toBe(2);
    expect(t.lookup(a)).toEqual({ ra: RA_BASE + 100, len: 50, perms: LDC_MEM_READ });
    expect(t.lookup(b)).toEqual({ ra: RA_BASE + 3 * P, len: P, perms: RW });
    expect(t.lookup(a + 1)).toBeUndefined();
    expect(t.lookup(b + 100)).toBeUndefined();
    expect(t.lookup(2 * P)).toBeUndefined();
    expect(t.lookup(-P)).toBeUndefined();
    expect(t.lookup(-1)).toBeUndefined();
    expect(t.lookup(Number.NaN)).toBeUndefined();
  });

  test("unbind frees the slot (by any cookie in it) for the next bind; twice is false", () => {
    const t = new LdcMapTable();
    t.bind(RA_BASE, P, RW);
    const c1 = t.bind(RA_BASE + 8, P, RW);
    t.bind(RA_BASE + 16, P, RW);
    expect(t.unbind(c1 + 5)).toBe(true);
    expect(t.lookup(c1)).toBeUndefined();
    expect(t.size).toBe(2);
    expect(t.unbind(c1)).toBe(false);
    expect(t.unbind(7 * P)).toBe(false);
    expect(t.size).toBe(2);
    const again = t.bind(RA_BASE + 24, P, RW);
    expect(again).toBe(P + 24); // slot 1 reused
    expect(t.size).toBe(3);
    expect(t.bind(RA_BASE, P, RW)).toBe(3 * P); // then a new slot
  });

  test("the table holds LDC_IOTABLE_SIZE entries; then -1 until one is freed", () => {
    const t = new LdcMapTable();
    let last = -1;
    for (let i = 0; i < LDC_IOTABLE_SIZE; i++) last = t.bind(RA_BASE, P, RW);
    expect(last).toBe((LDC_IOTABLE_SIZE - 1) * P);
    expect(t.size).toBe(LDC_IOTABLE_SIZE);
    expect(t.bind(RA_BASE, P, RW)).toBe(-1);
    expect(t.size).toBe(LDC_IOTABLE_SIZE);
    t.unbind(5 * P);
    expect(t.bind(RA_BASE, P, RW)).toBe(5 * P);
  });
});

function setup() {
  const bus = new EventBus(() => 0);
  const hcalls: Record<string, unknown>[] = [];
  bus.on("hcall", (e) => hcalls.push({ ...(e as unknown as Record<string, unknown>) }));
  const cost = parseCostModel({});
  const hv = new Hypervisor(smallMachine(), cost, bus);
  hv.addChannel(
    new LdcChannel(
      new Simulator(),
      7,
      0,
      1,
      { queueEntries: 8, latencyNs: 1, lossRate: 0 },
      new Rng(1),
    ),
  );
  const g = hv.domains[1]!.mem;
  const c = hv.domains[0]!.mem;
  const content = hv.memory.content;
  return { hv, g, c, content, cost, hcalls };
}

describe("LDC bind and unbind", () => {
  test("only an endpoint, only its own memory; each side has its own table", () => {
    const { hv } = setup();
    expect(hv.ldcBind(1, 7, RA_BASE + 5, 10, RW)).toBe(5);
    expect(hv.ldcBind(1, 7, RA_BASE, 10, RW)).toBe(P);
    expect(hv.ldcBind(0, 7, RA_BASE, 10, RW)).toBe(0);
    expect(hv.mapTables.get(7)!.map((t) => t.size)).toEqual([1, 2]);
    expect(hv.ldcBind(2, 7, RA_BASE, 10, RW)).toBe(-1); // not an endpoint
    expect(hv.ldcBind(1, 8, RA_BASE, 10, RW)).toBe(-1); // no such channel
    expect(hv.ldcBind(1, 7, END - 8, 9, RW)).toBe(-1); // runs off its memory
    expect(hv.ldcBind(1, 7, RA_BASE, 0, RW)).toBe(-1);
    expect(hv.ldcBind(1, 7, END - 8, 8, RW)).toBe(2 * P + ((END - 8) % P));
    expect(hv.ldcUnbind(1, 7, P)).toBe(true);
    expect(hv.ldcUnbind(1, 7, P)).toBe(false);
    expect(hv.ldcUnbind(0, 7, 0)).toBe(true);
    expect(hv.ldcUnbind(1, 8, 5)).toBe(false);
    expect(hv.ldcUnbind(2, 7, 5)).toBe(false);
    expect(hv.mapTables.get(7)!.map((t) => t.size)).toEqual([0, 2]);
  });
});

describe("LDC_COPY", () => {
  test("LDC_COPY reaches only what the peer exported, within its length and permissions", () => {
    const { hv, g, c } = setup();
    const src = RA_BASE + 10 * 8192;
    hv.memory.content[g.paPageOf(src)] = 111;
    hv.memory.content[g.paPageOf(src + 8192)] = 112;
    const ro = hv.ldcBind(1, 7, src, 2 * 8192, LDC_MEM_READ);
    expect(ro).toBeGreaterThanOrEqual(0);
    expect(hv.ldcBind(1, 7, 0x10, 8192, 3)).toBe(-1); // not the guest's memory
    expect(hv.ldcBind(2, 7, src, 8192, 3)).toBe(-1); // not an endpoint
    const dst = RA_BASE + 40 * 8192;
    expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro, dst, 2 * 8192)).toBe(HV.EOK);
    expect(hv.ret1).toBe(2 * 8192);
    expect([hv.memory.content[c.paPageOf(dst)], hv.memory.content[c.paPageOf(dst + 8192)]]).toEqual(
      [111, 112],
    );
    expect(hv.ldcCopy(0, 7, LDC_COPY_OUT, ro, dst, 8192)).toBe(HV.ENOACCESS); // read-only export
    expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro, dst, 3 * 8192)).toBe(HV.EINVAL); // longer than exported
    expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro + 8192, dst, 10)).toBe(HV.EINVAL); // no such cookie
    expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro, 0x10, 10)).toBe(HV.ENORADDR);
    expect(hv.ldcCopy(2, 7, LDC_COPY_IN, ro, dst, 10)).toBe(HV.ECHANNEL); // not on this channel
    expect(hv.ldcUnbind(1, 7, ro)).toBe(true);
    expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro, dst, 10)).toBe(HV.EINVAL); // revoked
    hv.killDomain(1, "test");
    expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro, dst, 10)).toBe(HV.ECHANNEL);
  });

  test("in: the peer's pages into the caller's; ret1, cost, hcall event", () => {
    const { hv, g, c, content, cost, hcalls } = setup();
    const src = RA_BASE + 10 * P + 100;
    content[g.paPageOf(src)] = 11;
    content[g.paPageOf(src + P)] = 12;
    content[g.paPageOf(src + 2 * P)] = 13;
    const cookie = hv.ldcBind(1, 7, src, 2 * P, LDC_MEM_READ);
    const dst = RA_BASE + 40 * P;
    const len = 2 * P - 50; // spans 3 pages of the export (offset 100)
    expect(hv.ldcCopy(0, 7, LDC_COPY_IN, cookie, dst, len)).toBe(HV.EOK);
    expect([hv.ret1, hv.ret2]).toEqual([len, 0]);
    expect([content[c.paPageOf(dst)], content[c.paPageOf(dst + P)]]).toEqual([11, 12]);
    expect(content[c.paPageOf(dst + 2 * P)]).toBe(13);
    expect(content[c.paPageOf(dst + 3 * P)]).toBe(0);
    const work = Math.ceil(len / cost.memcpyBytesPerNs);
    expect(work).toBe(1021); // 16331 B at 16 B/ns, rounded up
    expect(hv.lastCostNs).toBe(cost.hcallTrapNs + work);
    expect(hcalls).toEqual([
      {
        type: "hcall",
        t: 0,
        domain: 0,
        fn: "ldc_copy",
        status: HV.EOK,
        count: len,
        durNs: cost.hcallTrapNs + work,
      },
    ]);
  });

  test("exactly the pages the export's range spans move", () => {
    const { hv, g, c, content } = setup();
    const src = RA_BASE + 10 * P;
    content[g.paPageOf(src)] = 1;
    content[g.paPageOf(src + P)] = 2;
    const cookie = hv.ldcBind(1, 7, src, 2 * P, LDC_MEM_READ);
    const dst = RA_BASE + 40 * P;
    expect(hv.ldcCopy(0, 7, LDC_COPY_IN, cookie, dst, P)).toBe(HV.EOK);
    expect([content[c.paPageOf(dst)], content[c.paPageOf(dst + P)]]).toEqual([1, 0]);
    expect(hv.ldcCopy(0, 7, LDC_COPY_IN, cookie, dst, P + 1)).toBe(HV.EOK);
    expect(content[c.paPageOf(dst + P)]).toBe(2);
  });

  test("out: the caller's pages into the peer's export; pages past the caller's memory are skipped", () => {
    const { hv, g, c, content } = setup();
    const exp = RA_BASE + 20 * P + (P - 1); // the export starts on a page's last byte
    content[g.paPageOf(exp)] = 70;
    content[g.paPageOf(exp + P)] = 71;
    const cookie = hv.ldcBind(1, 7, exp, 2, LDC_MEM_WRITE);
    const local = RA_BASE + 16 * 1024 * 1024 - 2; // the control domain's last two bytes
    content[c.paPageOf(local)] = 5;
    expect(hv.ldcCopy(0, 7, LDC_COPY_OUT, cookie, local, 2)).toBe(HV.EOK);
    expect(content[g.paPageOf(exp)]).toBe(5);
    expect(content[g.paPageOf(exp + P)]).toBe(71); // no local page for it: left alone
  });

  test("a guest copies from what the control domain exported (the other side's table)", () => {
    const { hv, g, c, content } = setup();
    content[c.paPageOf(RA_BASE + 3 * P)] = 33;
    const cookie = hv.ldcBind(0, 7, RA_BASE + 3 * P, P, RW);
    expect(hv.ldcCopy(1, 7, LDC_COPY_IN, cookie, RA_BASE, P)).toBe(HV.EOK);
    expect(content[g.paPageOf(RA_BASE)]).toBe(33);
    expect(hv.ldcCopy(0, 7, LDC_COPY_IN, cookie, RA_BASE, P)).toBe(HV.EINVAL); // its own export
  });

  test("refusals: status, nothing copied, ret1 0, trap cost; and which wins", () => {
    const { hv, g, c, content, cost } = setup();
    content[g.paPageOf(RA_BASE)] = 9;
    const ro = hv.ldcBind(1, 7, RA_BASE, P, LDC_MEM_READ);
    const wo = hv.ldcBind(1, 7, RA_BASE + P, P, LDC_MEM_WRITE);
    const dst = RA_BASE + 40 * P;
    const cases: [number, () => number][] = [
      [HV.ENOACCESS, () => hv.ldcCopy(9, 7, LDC_COPY_IN, ro, dst, 8)],
      [HV.ECHANNEL, () => hv.ldcCopy(0, 8, LDC_COPY_IN, ro, dst, 8)],
      [HV.ECHANNEL, () => hv.ldcCopy(2, 7, LDC_COPY_IN, ro, dst, 8)],
      [HV.EINVAL, () => hv.ldcCopy(0, 7, 2, ro, dst, 8)],
      [HV.EINVAL, () => hv.ldcCopy(0, 7, -1, ro, dst, 8)],
      [HV.EINVAL, () => hv.ldcCopy(0, 7, LDC_COPY_IN, ro + 1, dst, 8)],
      [HV.EINVAL, () => hv.ldcCopy(0, 7, LDC_COPY_IN, ro, dst, 0)],
      [HV.EINVAL, () => hv.ldcCopy(0, 7, LDC_COPY_IN, ro, dst, P + 1)],
      [HV.ENOACCESS, () => hv.ldcCopy(0, 7, LDC_COPY_OUT, ro, dst, 8)],
      [HV.ENOACCESS, () => hv.ldcCopy(0, 7, LDC_COPY_IN, wo, dst, 8)],
      [HV.ENORADDR, () => hv.ldcCopy(0, 7, LDC_COPY_IN, ro, 0x10, 8)],
      [HV.ENORADDR, () => hv.ldcCopy(0, 7, LDC_COPY_IN, ro, RA_BASE + 16 * 1024 * 1024 - 4, 8)],
      // Which wins: channel before direction, direction before the cookie, length before rights,
      // rights before the caller's memory.
      [HV.ECHANNEL, () => hv.ldcCopy(0, 8, 5, ro + 1, 0x10, 0)],
      [HV.EINVAL, () => hv.ldcCopy(0, 7, 5, ro + 1, 0x10, 0)],
      [HV.EINVAL, () => hv.ldcCopy(0, 7, LDC_COPY_OUT, ro, 0x10, P + 1)],
      [HV.ENOACCESS, () => hv.ldcCopy(0, 7, LDC_COPY_OUT, ro, 0x10, 8)],
    ];
    const before = content.slice();
    for (const [status, call] of cases) {
      hv.ret1 = 99;
      expect(call()).toBe(status);
      expect([hv.ret1, hv.lastCostNs]).toEqual([0, cost.hcallTrapNs]);
    }
    expect(content).toEqual(before);
    expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro, dst, P)).toBe(HV.EOK); // the whole export
    expect(content[c.paPageOf(dst)]).toBe(9);
    hv.killDomain(1, "test");
    expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro, dst, 8)).toBe(HV.ECHANNEL); // the channel is down
    expect(hv.ldcCopy(1, 7, LDC_COPY_IN, ro, dst, 8)).toBe(HV.ENOACCESS); // a dead caller
  });
});
