/**
 * The hypervisor's invariant checker, one violation at a time: each is made by writing the
 * state directly (as a hypervisor bug would), and the checker must name exactly it, with its
 * line; a clean state gives nothing. Fast on purpose (a mutation run executes it per mutant).
 */
import { describe, expect, test } from "bun:test";
import { Hypervisor, RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import {
  guestErrors,
  hypervisorViolations,
  iommuViolations,
  ownedRuns,
  quiescentViolations,
  staleTranslations,
} from "../../../../core/model/hv/invariants.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { IO_ATTR_READ, IO_ATTR_WRITE } from "../../../../core/model/iommu/iotsb.ts";
import { parseCostModel, parseMachine } from "../../../../core/model/machine/parse.ts";
import { smallHv, WINDOW_BASE, writeList } from "../../../helpers/small-machine.ts";

const P = 8192;
const DH = 0x200;
const RW = IO_ATTR_READ | IO_ATTR_WRITE;
const BUF = RA_BASE + 16 * P;

/** g1 owns entries 0..3 and maps 0..1; g2 owns 10..11 and maps 10; both cached in the IOTLB. */
function clean() {
  const hv = smallHv({ windowPages: 32 });
  const io = hv.iommus.get(DH)!;
  expect(hv.dvmaGrant(0, 1, DH, WINDOW_BASE, 4)).toBe(HV.EOK);
  expect(hv.dvmaGrant(0, 2, DH, WINDOW_BASE + 10 * P, 2)).toBe(HV.EOK);
  writeList(hv, 1, RA_BASE, [BUF, BUF + P]);
  writeList(hv, 2, RA_BASE, [BUF]);
  expect(hv.iommuMap(1, DH, 0, 0, 2, RW, RA_BASE)).toBe(HV.EOK);
  expect(hv.iommuMap(2, DH, 0, 10, 1, RW, RA_BASE)).toBe(HV.EOK);
  expect(hv.deviceDma(0, WINDOW_BASE, 2 * P, true, 1)).toBe(0);
  expect(hv.deviceDma(1, WINDOW_BASE + 10 * P, 8, true, 1)).toBe(0);
  const pa = (d: number, ra: number) => hv.domains[d]!.mem.paPageOf(ra);
  return { hv, io, pa };
}

describe("owned runs", () => {
  test("[first, length, owner] per owned stretch, free entries skipped, to the window's end", () => {
    const { hv, io } = clean();
    expect(ownedRuns(io)).toEqual([0, 4, 1, 10, 2, 2]);
    hv.dvmaGrant(0, 2, DH, WINDOW_BASE + 4 * P, 1);
    hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 30 * P, 2);
    expect(ownedRuns(io)).toEqual([0, 4, 1, 4, 1, 2, 10, 2, 2, 30, 2, 1]);
    io.entryOwner[20] = 0; // the control domain (id 0) owns entries like any other domain
    expect(ownedRuns(io)).toEqual([0, 4, 1, 4, 1, 2, 10, 2, 2, 20, 1, 0, 30, 2, 1]);
  });
});

describe("the hypervisor's invariants", () => {
  test("a consistent state (TTEs, IOTLB, counts) has no violation", () => {
    const { hv, io } = clean();
    expect(io.iotlb.cachedIndices().length).toBe(3);
    expect(hypervisorViolations(hv)).toEqual([]);
    expect(iommuViolations(hv, io)).toEqual([]);
  });

  test("1: a valid TTE pointing at another domain's page", () => {
    const { hv, io, pa } = clean();
    io.iotsb.set(3, pa(2, BUF + 5 * P), RW);
    expect(hypervisorViolations(hv)).toEqual([
      `rc 512 entry 3: TTE -> page ${pa(2, BUF + 5 * P)} owned by 2, entry owned by 1`,
    ]);
  });

  test("adjacent runs of two owners, both mapped at the boundary, are consistent", () => {
    const { hv, io } = clean();
    expect(hv.dvmaGrant(0, 2, DH, WINDOW_BASE + 4 * P, 1)).toBe(HV.EOK);
    writeList(hv, 1, RA_BASE, [BUF + 3 * P]);
    writeList(hv, 2, RA_BASE + 8, [BUF + 3 * P]);
    expect(hv.iommuMap(1, DH, 0, 3, 1, RW, RA_BASE)).toBe(HV.EOK);
    expect(hv.iommuMap(2, DH, 0, 4, 1, RW, RA_BASE + 8)).toBe(HV.EOK);
    expect(ownedRuns(io)).toEqual([0, 4, 1, 4, 1, 2, 10, 2, 2]);
    expect(hypervisorViolations(hv)).toEqual([]);
  });

  test("an entry owned by no domain that exists: named, not a crash", () => {
    const { hv, io, pa } = clean();
    io.entryOwner[20] = 9;
    io.ownedEntries++;
    io.iotsb.set(20, pa(1, BUF), RW);
    expect(hypervisorViolations(hv)).toEqual([
      `rc 512 entry 20: TTE -> page ${pa(1, BUF)} owned by 1, entry owned by 9`,
      "rc 512 entry 20: TTE of dead domain 9",
    ]);
  });

  test("4: a valid TTE left in an entry of a dead domain", () => {
    const { hv, io, pa } = clean();
    const page = pa(1, BUF);
    hv.killDomain(1, "test");
    expect(hypervisorViolations(hv)).toEqual([]);
    io.iotsb.set(2, page, RW);
    expect(hypervisorViolations(hv)).toEqual([
      `rc 512 entry 2: TTE -> page ${page} owned by -1, entry owned by 1`,
      "rc 512 entry 2: TTE of dead domain 1",
    ]);
  });

  test("the owned-entries count must match the table", () => {
    const { hv, io } = clean();
    io.ownedEntries++;
    expect(hypervisorViolations(hv)).toEqual(["rc 512: 6 entries owned, but the count says 7"]);
  });

  test("a valid TTE in an unowned entry is named", () => {
    const { hv, io, pa } = clean();
    io.iotsb.set(20, pa(1, BUF), RW);
    io.iotsb.set(31, pa(1, BUF), RW);
    expect(hypervisorViolations(hv)).toEqual([
      "rc 512 entry 20: valid TTE in an unowned entry",
      "rc 512 entry 31: valid TTE in an unowned entry",
    ]);
  });

  test("only entries owned by nobody are named unowned: the control domain's are owned", () => {
    const { hv, io, pa } = clean();
    expect(hv.dvmaGrant(0, 0, DH, WINDOW_BASE + 20 * P, 1)).toBe(HV.EOK);
    writeList(hv, 0, RA_BASE, [RA_BASE + 8 * P]);
    expect(hv.iommuMap(0, DH, 0, 20, 1, RW, RA_BASE)).toBe(HV.EOK);
    expect(hypervisorViolations(hv)).toEqual([]);
    io.iotsb.set(21, pa(1, BUF), RW);
    expect(hypervisorViolations(hv)).toEqual(["rc 512 entry 21: valid TTE in an unowned entry"]);
  });

  test("a valid count that the named entries do not explain either", () => {
    const { hv, io, pa } = clean();
    io.iotsb.set(20, pa(1, BUF), RW);
    io.iotsb.attr[1] = 0; // invalid now, still counted
    io.iotlb.invalidate(1);
    expect(hypervisorViolations(hv)).toEqual([
      "rc 512 entry 20: valid TTE in an unowned entry",
      "rc 512: 3 valid TTEs, but the count says 4",
    ]);
  });

  test("a valid count that no entry explains", () => {
    const { hv, io } = clean();
    io.iotsb.attr[1] = 0; // invalid now, but the count still says 3
    io.iotlb.invalidate(1);
    expect(hypervisorViolations(hv)).toEqual(["rc 512: 2 valid TTEs, but the count says 3"]);
  });

  test("4: an IOTLB entry whose TTE is invalid", () => {
    const { hv, io, pa } = clean();
    io.iotlb.insert(6, pa(1, BUF), RW);
    io.iotlb.insert(2, pa(1, BUF), RW);
    expect(hypervisorViolations(hv).sort()).toEqual([
      "rc 512 entry 2: IOTLB holds an entry whose TTE is invalid",
      "rc 512 entry 6: IOTLB holds an entry whose TTE is invalid",
    ]);
  });

  test("1 for the IOTLB: a cached translation to a page its entry's owner does not own", () => {
    const { hv, io, pa } = clean();
    io.iotlb.invalidate(0);
    io.iotlb.insert(0, pa(2, BUF + 3 * P), RW);
    expect(hypervisorViolations(hv)).toEqual([
      `rc 512 entry 0: IOTLB -> page ${pa(2, BUF + 3 * P)} owned by 2, entry owned by 1`,
    ]);
    // The IOTLB holding what the TTE says is named once, for the TTE.
    io.iotsb.set(0, pa(2, BUF + 3 * P), RW);
    expect(hypervisorViolations(hv)).toEqual([
      `rc 512 entry 0: TTE -> page ${pa(2, BUF + 3 * P)} owned by 2, entry owned by 1`,
    ]);
    io.iotsb.set(0, pa(1, BUF), RW);
    // A stale translation to the owner's own page is the guest's error, not a violation.
    io.iotlb.invalidate(0);
    io.iotlb.insert(0, pa(1, BUF + 9 * P), RW);
    expect(hypervisorViolations(hv)).toEqual([]);
  });

  test("every root complex is checked, each under its own name", () => {
    const md = parseMachine({
      rootComplexes: [0x200, 0x300].map((devhandle) => ({
        devhandle,
        virtualDma: { base: WINDOW_BASE, size: 8 * P },
        isolation: "shared",
        iotlb: { sets: 2, ways: 2 },
      })),
      domains: [
        { name: "primary", role: "control", memoryMiB: 8 },
        { name: "g1", memoryMiB: 8 },
      ],
      devices: [],
    });
    const hv = new Hypervisor(md, parseCostModel({}));
    hv.iommus.get(0x200)!.ownedEntries = 1;
    hv.iommus.get(0x300)!.ownedEntries = 2;
    expect(hypervisorViolations(hv)).toEqual([
      "rc 512: 0 entries owned, but the count says 1",
      "rc 768: 0 entries owned, but the count says 2",
    ]);
  });
});

describe("quiescence (invariant 6)", () => {
  test("valid TTEs and owned entries that remain are counted; none, nothing", () => {
    const { hv, io } = clean();
    hv.dvmaGrant(0, 1, DH, WINDOW_BASE + 20 * P, 3);
    expect(quiescentViolations(hv)).toEqual([
      "rc 512: 3 valid TTEs remain",
      "rc 512: 9 entries still owned",
    ]);
    hv.dvmaRevoke(0, 1, DH, WINDOW_BASE, 4);
    hv.dvmaRevoke(0, 2, DH, WINDOW_BASE + 10 * P, 2);
    expect(quiescentViolations(hv)).toEqual(["rc 512: 3 entries still owned"]);
    hv.dvmaRevoke(0, 1, DH, WINDOW_BASE + 20 * P, 3);
    expect(quiescentViolations(hv)).toEqual([]);
    io.iotsb.set(5, 100, RW);
    expect(quiescentViolations(hv)).toEqual(["rc 512: 1 valid TTEs remain"]);
  });
});

describe("guest errors", () => {
  test("MAPs over a valid entry, by domain name, then each stale translation", () => {
    const { hv, io, pa } = clean();
    expect(guestErrors(hv)).toEqual([]);
    expect(staleTranslations(hv)).toEqual([]);
    writeList(hv, 1, RA_BASE + 8, [BUF + 7 * P]);
    hv.iommuMap(1, DH, 0, 1, 1, RW, RA_BASE + 8); // over valid entry 1, cached: stale
    hv.iommuMap(1, DH, 0, 1, 1, RW, RA_BASE + 8);
    const stale = `rc 512 entry 1: the IOTLB still translates to page ${pa(1, BUF + P)}, the TTE to ${pa(1, BUF + 7 * P)} (remapped without a demap)`;
    expect(staleTranslations(hv)).toEqual([stale]);
    expect(guestErrors(hv)).toEqual(["g1: 2 MAPs over a valid entry without a demap", stale]);
    writeList(hv, 2, RA_BASE + 8, [BUF]);
    hv.iommuMap(2, DH, 0, 10, 1, IO_ATTR_READ, RA_BASE + 8); // same page, fewer rights: stale too
    expect(guestErrors(hv)).toEqual([
      "g1: 2 MAPs over a valid entry without a demap",
      "g2: 1 MAPs over a valid entry without a demap",
      // In IOTLB slot order: entry 10 sits in set 0, entry 1 in set 1.
      `rc 512 entry 10: the IOTLB still translates to page ${pa(2, BUF)}, the TTE to ${pa(2, BUF)} (remapped without a demap)`,
      stale,
    ]);
    hv.iommuDemap(1, DH, 0, 1, 1);
    hv.iommuDemap(2, DH, 0, 10, 1);
    expect(staleTranslations(hv)).toEqual([]);
    // An IOTLB entry without a valid TTE is the hypervisor's bug: iommuViolations names it, not this.
    io.iotlb.insert(1, 5, RW);
    expect(staleTranslations(hv)).toEqual([]);
  });
});
