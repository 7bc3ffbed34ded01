/** The /state snapshot of a booted platform: domains and their grants, DVMA windows, IOMMU stats. */

import { type Platform, round, runLengths } from "../../core/index.ts";

export interface DomainState {
  id: number;
  name: string;
  role: "control" | "guest";
  alive: boolean;
  /** CPU utilisation from boot to now (0..1). */
  cpu: number;
  /** DVMA ranges the broker granted it, as window page indices. */
  grants: { devhandle: number; base: number; npages: number }[];
}

export interface WindowState {
  devhandle: number;
  windowBase: number;
  windowPages: number;
  isolation: string;
  /** Entries granted to some domain. */
  ownedEntries: number;
  /** Entries with a valid TTE. */
  validTtes: number;
  /** Owner of each entry in window order, run-length encoded: [domain id or -1 (free), count]. */
  owners: [owner: number, length: number][];
  iotlb: { sets: number; ways: number; hits: number; misses: number; invalidations: number };
  dmas: number;
  faults: number;
}

export function domainsState(p: Platform, nowNs: number): DomainState[] {
  const handles = [...p.hv.iommus.keys()].sort((a, b) => a - b);
  return p.hv.domains.map((d) => ({
    id: d.id,
    name: d.name,
    role: d.role,
    alive: d.alive,
    cpu: round(p.cpus[d.id]!.utilisation(nowNs)),
    grants: handles.flatMap((devhandle) =>
      p.broker
        .grantsOf(d.id, devhandle)
        .map((g) => ({ devhandle, base: g.base, npages: g.npages })),
    ),
  }));
}

export function windowsState(p: Platform): WindowState[] {
  return [...p.hv.iommus.values()]
    .sort((a, b) => a.devhandle - b.devhandle)
    .map((io) => {
      const owners = runLengths(io.entryOwner);
      const tlb = io.iotlb;
      return {
        devhandle: io.devhandle,
        windowBase: io.windowBase,
        windowPages: io.windowPages,
        isolation: io.isolation,
        ownedEntries: owners.reduce((n, [o, len]) => (o >= 0 ? n + len : n), 0),
        validTtes: io.iotsb.valid,
        owners,
        iotlb: {
          sets: tlb.sets,
          ways: tlb.ways,
          hits: tlb.hits,
          misses: tlb.misses,
          invalidations: tlb.invalidations,
        },
        dmas: io.dmas,
        faults: io.faults.reduce((a, b) => a + b, 0),
      };
    });
}
