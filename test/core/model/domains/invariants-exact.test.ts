// The domain invariants' reports read word for word on a hand-built state: the broker's ledger
// against the hypervisor's ownership table (3) and every valid TTE accounted for (7).
import { describe, expect, test } from "bun:test";
import type { DvmaBroker } from "../../../../core/model/domains/broker.ts";
import type { GuestDmaApi } from "../../../../core/model/domains/guest-dma.ts";
import {
  dmaApiViolations,
  heldGrants,
  invariantViolations,
  ledgerViolations,
} from "../../../../core/model/domains/invariants.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { smallHv, WINDOW_BASE } from "../../../helpers/small-machine.ts";

const DH = 0x200;

type Ranges = Record<number, { base: number; npages: number }[]>;

/** A broker stand-in whose ledger is `grants[domain]`, and its numbered grants `numbered` (or the same). */
function ledger(grants: Ranges, up = true, numbered: Ranges = grants) {
  return {
    isUp: up,
    grantsOf: (d: number, dh: number) => (dh === DH ? (grants[d] ?? []) : []),
    numberedGrantsOf: (d: number, dh: number) => (dh === DH ? (numbered[d] ?? []) : []),
  } as unknown as DvmaBroker;
}

function machine(owned: [domain: number, base: number, npages: number][]) {
  const hv = smallHv({ guests: 3, windowPages: 64 });
  for (const [d, base, n] of owned)
    expect(hv.dvmaGrant(0, d, DH, WINDOW_BASE + base * 8192, n)).toBe(HV.EOK);
  return { hv, io: hv.iommus.get(DH)! };
}

describe("ledger = ownership table (3)", () => {
  test("equal, stretch by stretch, including adjacent grants of different guests", () => {
    const { hv, io } = machine([
      [1, 0, 2],
      [2, 2, 2],
      [1, 4, 1],
      [3, 63, 1],
    ]);
    const b = ledger({
      1: [
        { base: 0, npages: 2 },
        { base: 4, npages: 1 },
      ],
      2: [{ base: 2, npages: 2 }],
      3: [{ base: 63, npages: 1 }],
    });
    expect(ledgerViolations(hv, b, io)).toEqual([]);
    expect(invariantViolations(hv, b)).toEqual([]);
  });

  test("a guest's numbered grants cover its ledger page for page, however split", () => {
    const { hv, io } = machine([
      [1, 0, 4],
      [2, 8, 2],
    ]);
    const split = {
      1: [
        { base: 0, npages: 1 },
        { base: 1, npages: 3 },
      ],
      2: [{ base: 8, npages: 2 }],
    };
    expect(
      ledgerViolations(hv, ledger({ 1: [{ base: 0, npages: 4 }], 2: split[2] }, true, split), io),
    ).toEqual([]);
    const missing = { 1: [{ base: 1, npages: 3 }], 2: [] };
    expect(ledgerViolations(hv, ledger(split, true, missing), io)).toEqual([
      'rc 512: 1\'s grants [{"base":1,"npages":3}], ledger [{"base":0,"npages":4}]',
      'rc 512: 2\'s grants [], ledger [{"base":8,"npages":2}]',
    ]);
    // As many pages, elsewhere: named too.
    const moved = {
      1: [
        { base: 0, npages: 3 },
        { base: 5, npages: 1 },
      ],
      2: split[2],
    };
    expect(ledgerViolations(hv, ledger(split, true, moved), io)).toEqual([
      'rc 512: 1\'s grants [{"base":0,"npages":3},{"base":5,"npages":1}], ledger [{"base":0,"npages":4}]',
    ]);
    // The control domain's own grants are not numbered.
    expect(hv.dvmaGrant(0, 0, DH, WINDOW_BASE + 20 * 8192, 1)).toBe(HV.EOK);
    const own = { ...split, 0: [{ base: 20, npages: 1 }] };
    expect(ledgerViolations(hv, ledger(own, true, split), io)).toEqual([]);
  });

  test("an owner that differs inside adjacent stretches is named at its first entry", () => {
    const { hv, io } = machine([
      [1, 0, 2],
      [2, 2, 2],
    ]);
    const b = ledger({ 1: [{ base: 0, npages: 2 }], 3: [{ base: 2, npages: 2 }] });
    expect(ledgerViolations(hv, b, io)).toEqual([
      "rc 512 entry 2 (dvma 0x80004000): ledger says 3, hypervisor says 2",
    ]);
  });

  test("a grant the table lacks, and one the ledger lacks, are named at the first difference", () => {
    const { hv, io } = machine([[1, 4, 4]]);
    expect(ledgerViolations(hv, ledger({ 1: [{ base: 4, npages: 5 }] }), io)).toEqual([
      "rc 512 entry 8 (dvma 0x80010000): ledger says 1, hypervisor says -1",
    ]);
    expect(ledgerViolations(hv, ledger({ 1: [{ base: 5, npages: 3 }] }), io)).toEqual([
      "rc 512 entry 4 (dvma 0x80008000): ledger says -1, hypervisor says 1",
    ]);
    expect(ledgerViolations(hv, ledger({}), io)).toEqual([
      "rc 512 entry 4 (dvma 0x80008000): ledger says -1, hypervisor says 1",
    ]);
  });

  test("a grant outside the window, and one page granted twice, are each named", () => {
    const { hv, io } = machine([
      [1, 0, 4],
      [2, 62, 2],
    ]);
    const b = ledger({
      1: [{ base: -2, npages: 6 }],
      2: [
        { base: 62, npages: 4 },
        { base: 2, npages: 2 },
      ],
    });
    expect(ledgerViolations(hv, b, io)).toEqual([
      "rc 512: grant -2+6 of 1 leaves the window",
      "rc 512: grant 62+4 of 2 leaves the window",
      "rc 512 entry 2: granted to 1 and 2",
      "rc 512 entry 3: granted to 1 and 2",
    ]);
    const whole = ledger({
      1: [
        { base: -2, npages: 2 },
        { base: 0, npages: 4 },
      ],
      2: [{ base: 62, npages: 2 }],
    });
    expect(ledgerViolations(hv, whole, io)).toEqual(["rc 512: grant -2+2 of 1 leaves the window"]);
  });

  test("a later grant nested in a longer one is named against the one that covers it", () => {
    const { hv, io } = machine([[1, 0, 8]]);
    const b = ledger({
      1: [{ base: 0, npages: 8 }],
      2: [{ base: 2, npages: 1 }],
      3: [{ base: 5, npages: 1 }],
    });
    expect(ledgerViolations(hv, b, io)).toEqual([
      "rc 512 entry 2: granted to 1 and 2",
      "rc 512 entry 5: granted to 1 and 3",
    ]);
    // a grant ending where the covering one ends does not take over the cover
    const same = ledger({
      1: [{ base: 0, npages: 8 }],
      2: [{ base: 4, npages: 4 }],
      3: [{ base: 6, npages: 1 }],
    });
    expect(ledgerViolations(hv, same, io)).toEqual([
      "rc 512 entry 4: granted to 1 and 2",
      "rc 512 entry 5: granted to 1 and 2",
      "rc 512 entry 6: granted to 1 and 2",
      "rc 512 entry 7: granted to 1 and 2",
      "rc 512 entry 6: granted to 1 and 3",
    ]);
  });

  test("a boundary only the table has, below the ledger's last one, is found", () => {
    // The ledger's stretches end at 2, 4, 6, 8 and 12; the table splits the last at 10, a
    // boundary the ledger lacks and below its last: the walk must still visit it in order.
    const { hv, io } = machine([
      [1, 0, 2],
      [2, 2, 2],
      [1, 4, 2],
      [2, 6, 2],
      [3, 8, 2],
      [1, 10, 2],
    ]);
    const b = ledger({
      1: [
        { base: 0, npages: 2 },
        { base: 4, npages: 2 },
      ],
      2: [
        { base: 2, npages: 2 },
        { base: 6, npages: 2 },
      ],
      3: [{ base: 8, npages: 4 }],
    });
    expect(ledgerViolations(hv, b, io)).toEqual([
      "rc 512 entry 10 (dvma 0x80014000): ledger says 3, hypervisor says 1",
    ]);
  });

  test("a broker that is down is not compared", () => {
    const { hv } = machine([[1, 0, 2]]);
    expect(invariantViolations(hv, ledger({}, false))).toEqual([]);
    expect(invariantViolations(hv, ledger({}))).toEqual([
      "rc 512 entry 0 (dvma 0x80000000): ledger says -1, hypervisor says 1",
    ]);
    expect(invariantViolations(hv)).toEqual([]);
  });
});

describe("every valid TTE accounted for (7)", () => {
  class Policy {
    constructor(private readonly allocated: Set<number>) {}
    stateOf(page: number) {
      return this.allocated.has(page) ? "allocated" : "free";
    }
  }
  function api(
    domain: number,
    allocated: number[],
    deferred: number[] = [],
    perMap: [number, number][] = [],
  ) {
    return {
      accounting: {
        domain,
        devhandle: DH,
        policy: new Policy(new Set(allocated)),
        deferred,
        perMap: new Map(perMap),
      },
      heldLeases: [{ base: 40, npages: 4, live: 1 }],
    } as unknown as GuestDmaApi;
  }

  test("a valid TTE is fine when allocated, deferred or per-map; otherwise named, three at most", () => {
    const { hv, io } = machine([
      [1, 0, 16],
      [2, 16, 4],
    ]);
    const pa = hv.domains[1]!.mem.paPageOf(hv.domains[1]!.mem.segments[0]!.raBase);
    for (const i of [0, 1, 3, 4, 5, 8, 9, 12]) io.iotsb.set(i, pa, 3);
    io.iotsb.set(17, hv.domains[2]!.mem.paPageOf(hv.domains[2]!.mem.segments[0]!.raBase), 3);
    // 0: allocated; 3..5: deferred (two pairs out of order); 8: per-map; 1, 9, 12: not accounted for
    const a = api(1, [0], [4, 2, 3, 1], [[8, 1]]);
    expect(dmaApiViolations(hv, a)).toEqual([
      "domain 1 entry 1: valid TTE that no mapping accounts for",
      "domain 1 entry 9: valid TTE that no mapping accounts for",
      "domain 1 entry 12: valid TTE that no mapping accounts for",
    ]);
    io.iotsb.set(13, pa, 3);
    expect(dmaApiViolations(hv, a).length).toBe(3);
    expect(dmaApiViolations(hv, api(1, [0, 1, 9, 12, 13], [3, 3], [[8, 1]]))).toEqual([]);
    // guest 2's entries are not guest 1's business, and the other way round
    expect(dmaApiViolations(hv, api(2, []))).toEqual([
      "domain 2 entry 17: valid TTE that no mapping accounts for",
    ]);
    expect(invariantViolations(hv, undefined, [api(2, [17])])).toEqual([]);
    expect(invariantViolations(hv, undefined, [api(2, [])])).toEqual([
      "domain 2 entry 17: valid TTE that no mapping accounts for",
    ]);
  });

  test("a deferred range that starts before and one that ends inside both count", () => {
    const { hv, io } = machine([[1, 0, 16]]);
    const pa = hv.domains[1]!.mem.paPageOf(hv.domains[1]!.mem.segments[0]!.raBase);
    for (const i of [2, 3, 6, 7]) io.iotsb.set(i, pa, 3);
    expect(dmaApiViolations(hv, api(1, [], [0, 4, 6, 1]))).toEqual([
      "domain 1 entry 7: valid TTE that no mapping accounts for",
    ]);
    io.iotsb.set(0, pa, 3);
    expect(dmaApiViolations(hv, api(1, [2, 3, 6, 7]))).toEqual([
      "domain 1 entry 0: valid TTE that no mapping accounts for",
    ]);
    // a short range after a long one does not shorten what the long one covers
    expect(dmaApiViolations(hv, api(1, [], [0, 8, 1, 1]))).toEqual([]);
  });

  test("a policy that cannot say a page's state is not checked", () => {
    const { hv, io } = machine([[1, 0, 4]]);
    io.iotsb.set(0, hv.domains[1]!.mem.paPageOf(hv.domains[1]!.mem.segments[0]!.raBase), 3);
    const plain = {
      accounting: { domain: 1, devhandle: DH, policy: {}, deferred: [], perMap: new Map() },
    } as unknown as GuestDmaApi;
    expect(dmaApiViolations(hv, plain)).toEqual([]);
  });

  test("held grants: the leases and the per-map grants", () => {
    expect(heldGrants(api(1, [], [], [[9, 2]]))).toEqual([
      { base: 40, npages: 4 },
      { base: 9, npages: 2 },
    ]);
  });
});
