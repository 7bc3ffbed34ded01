import { describe, expect, test } from "bun:test";
import { type DmaMapping, isDmaFailure } from "../../../../core/model/domains/guest-dma-types.ts";
import { invariantViolations } from "../../../../core/model/domains/invariants.ts";
import { hypervisorViolations, quiescentViolations } from "../../../../core/model/hv/invariants.ts";
import { bootSmall, runProc } from "../../../helpers/platform.ts";

/**
 * The invariant checks visit only owned entries (and name a stray one by a count that does not
 * add up): each corruption below, made by hand on a live machine, must still be reported.
 */
const DH = 0x200;

/** Two guests, guest 1 with a 16-page lease and one 2-page mapping, guest 2 with a lease. */
function live() {
  const b = bootSmall({ guests: 2, windowPages: 256, guestDma: { leasePages: 16 } });
  for (const g of b.platform.guests) expect(runProc(b, g.link.handshake())).toBe(true);
  const [g1, g2] = b.platform.guests;
  const ra = g1!.memory.alloc(2);
  const m = runProc(b, g1!.dma.get(DH)!.mapSingle(ra, 2 * 8192, "from-device")) as DmaMapping;
  expect(isDmaFailure(m)).toBe(false);
  const m2 = runProc(b, g2!.dma.get(DH)!.mapSingle(g2!.memory.alloc(1), 100, "to-device"));
  expect(isDmaFailure(m2)).toBe(false);
  const io = b.hv.iommus.get(DH)!;
  const all = () => invariantViolations(b.hv, b.broker, b.platform.dmaApisInUse);
  expect(all()).toEqual([]);
  return { b, io, m, all, g1: g1!, g2: g2! };
}

describe("a violated invariant is still caught", () => {
  test("a valid TTE in an unowned entry", () => {
    const { b, io, all } = live();
    const free = io.entryOwner.lastIndexOf(-1);
    io.iotsb.set(free, b.hv.domains[1]!.mem.paPageOf(0), 3);
    expect(all().join("\n")).toContain(`entry ${free}: valid TTE in an unowned entry`);
    expect(hypervisorViolations(b.hv).length).toBe(1);
  });

  test("a TTE pointing at a page its entry's owner does not own", () => {
    const { b, io, m, all } = live();
    io.iotsb.pa[m.index] = b.hv.domains[2]!.mem.paPageOf(0);
    expect(all().join("\n")).toContain(`entry ${m.index}: TTE -> page`);
  });

  test("a TTE left behind by a dead domain", () => {
    const { b, m, all } = live();
    b.hv.domains[1]!.alive = false;
    expect(all().join("\n")).toContain(`entry ${m.index}: TTE of dead domain 1`);
  });

  test("an IOTLB entry whose TTE is invalid", () => {
    const { io, all } = live();
    const free = io.entryOwner.lastIndexOf(-1);
    io.iotlb.insert(free, 5, 3);
    expect(all().join("\n")).toContain(`entry ${free}: IOTLB holds an entry whose TTE is invalid`);
  });

  test("an owned-entry count that does not match the table", () => {
    const { io, all } = live();
    io.ownedEntries++;
    expect(all().join("\n")).toMatch(/entries owned, but the count says/);
  });

  test("an entry the hypervisor says is owned but the ledger never granted", () => {
    const { io, all } = live();
    const free = io.entryOwner.lastIndexOf(-1);
    io.entryOwner[free] = 2;
    io.ownedEntries++;
    expect(all().join("\n")).toContain(`entry ${free} (dvma`);
    expect(all().join("\n")).toContain("ledger says -1, hypervisor says 2");
  });

  test("a grant the hypervisor's table does not show", () => {
    const { b, io, all } = live();
    const [grant] = b.broker.grantsOf(2, DH);
    const last = grant!.base + grant!.npages - 1;
    io.entryOwner[last] = -1;
    io.ownedEntries--;
    expect(all().join("\n")).toContain(`entry ${last} (dvma`);
    expect(all().join("\n")).toContain("ledger says 2, hypervisor says -1");
  });

  test("a valid TTE in a guest's lease that no mapping accounts for", () => {
    const { b, io, m, all } = live();
    const spare = m.index + m.npages; // leased, not allocated
    expect(io.entryOwner[spare]).toBe(1);
    io.iotsb.set(spare, b.hv.domains[1]!.mem.paPageOf(0), 3);
    expect(all().join("\n")).toContain(
      `domain 1 entry ${spare}: valid TTE that no mapping accounts for`,
    );
  });

  test("quiescence: an owned entry after every guest left", () => {
    const { b, io } = live();
    const free = io.entryOwner.lastIndexOf(-1);
    io.entryOwner[free] = 1;
    expect(quiescentViolations(b.hv).join("\n")).toContain("entries still owned");
  });
});
