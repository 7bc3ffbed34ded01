import { invariantViolations } from "../../model/domains/invariants.ts";
import type { Platform } from "../../model/domains/platform.ts";
import { ownedRuns, staleTranslations } from "../../model/hv/invariants.ts";
import { runLengths } from "../../model/iommu/owner-runs.ts";
import { dvmaMoment } from "../report/dvma-maps.ts";
import { type PathMetrics, round } from "../report/report.ts";
import { cpuFigures, lockFigures } from "./cpu-figures.ts";
import type { PluginErrorLog } from "./failures.ts";
import type { IoMeter } from "./run-meter.ts";
import { starvationFigures } from "./starvation.ts";

const byName = <T>([a]: [string, T], [b]: [string, T]) => (a < b ? -1 : 1);

/** A run's figures at its end, from the meter and the machine's state. */
export function runMetrics(
  platform: Platform,
  meter: IoMeter,
  pluginErrors: PluginErrorLog,
  untilNs: number,
  native: boolean | undefined,
): PathMetrics {
  const { hv } = platform;
  const { ios, bytes, lat, failed } = meter;
  const seconds = untilNs / 1e9;
  const { cpu, vcpus } = cpuFigures(platform, untilNs);
  const hcalls = hv.hcalls.reduce((a, b) => a + b, 0);
  const ldc = hv.channels.reduce((a, c) => a + c.sent, 0);
  let used = 0;
  let frag = 0;
  let faults = 0;
  for (const io of hv.iommus.values()) {
    used += io.ownedEntries;
    faults += io.faults.reduce((a, b) => a + b, 0);
    frag = Math.max(frag, platform.broker.policyOf(io.devhandle)?.stats?.().fragmentation ?? 0);
  }
  const per = (n: number) => round(ios > 0 ? n / ios : 0);
  const extraOut: Record<string, number> = { policyErrors: pluginErrors.total };
  Object.assign(extraOut, machineHealth(platform), failed.figures());
  for (const [kind, k] of [...meter.byKind.entries()].sort(byName)) {
    extraOut[`${kind}.gbps`] = round((k.bytes * 8) / untilNs);
    extraOut[`${kind}.iops`] = round(k.ios / seconds, 1);
    extraOut[`${kind}.p50Us`] = round(k.lat.percentile(50) / 1e3, 3);
    extraOut[`${kind}.p99Us`] = round(k.lat.percentile(99) / 1e3, 3);
  }
  for (const [name, h] of [...meter.observed.entries()].sort(byName)) {
    extraOut[`${name}.p50Us`] = round(h.percentile(50) / 1e3, 3);
    extraOut[`${name}.p99Us`] = round(h.percentile(99) / 1e3, 3);
    extraOut[`${name}.count`] = h.count;
  }
  for (const [name, v] of [...meter.figures.entries()].sort(byName)) extraOut[name] = v;
  return {
    throughputGbps: round((bytes * 8) / untilNs),
    iops: round(ios / seconds, 1),
    latencyUs: {
      p50: round(lat.percentile(50) / 1e3, 3),
      p99: round(lat.percentile(99) / 1e3, 3),
      p999: round(lat.percentile(99.9) / 1e3, 3),
    },
    cpu,
    vcpus,
    perIo: {
      hypercalls: native ? 0 : per(hcalls),
      ldcMessages: per(ldc),
      iotlbFlushes: per(hv.flushOps),
    },
    dvma: { usedPages: used, fragmentation: round(frag) },
    faults,
    blocked: meter.blocked,
    ios,
    errors: failed.total,
    attacks: meter.attacks,
    extra: extraOut,
    dvmaMap: [...hv.iommus.values()]
      .sort((a, b) => a.devhandle - b.devhandle)
      .map((io) => ({
        devhandle: io.devhandle,
        windowPages: io.windowPages,
        runs: runLengths(io.entryOwner),
      })),
    ...(meter.moments.size > 0
      ? { dvmaMoments: [...meter.moments.entries()].sort(byName).map(([, m]) => dvmaMoment(m)) }
      : {}),
    ...(pluginErrors.total > 0 ? { pluginErrors: pluginErrors.list() } : {}),
  };
}

/**
 * Figures about the machine's state at run end: IOTLB hit rate, the guests' local-policy
 * fragmentation, and how many safety invariants are violated (always 0 unless something is wrong).
 */
function machineHealth(platform: Platform): Record<string, number> {
  const { hv, broker } = platform;
  let hits = 0;
  let lookups = 0;
  for (const io of hv.iommus.values()) {
    hits += io.iotlb.hits;
    lookups += io.iotlb.hits + io.iotlb.misses;
  }
  const frags = platform.guests.flatMap((g) =>
    [...g.dma.values()].map((d) => d.policyStats().fragmentation ?? 0),
  );
  const localFragmentation = frags.length > 0 ? frags.reduce((a, b) => a + b, 0) / frags.length : 0;
  return {
    ...lockFigures(platform),
    ...starvationFigures(platform),
    "iotlb.hitRate": round(lookups > 0 ? hits / lookups : 0),
    "dvma.localFragmentation": round(localFragmentation),
    invariantViolations: invariantViolations(
      hv,
      broker.isUp ? broker : undefined,
      platform.dmaApisInUse,
    ).length,
    // MAPs over a valid entry (sun4v v1 keeps the stale translation): the guests' own errors.
    guestErrors: hv.remaps.reduce((a, b) => a + b, 0),
    "iotlb.staleEntries": staleTranslations(hv).length,
    "dvma.deadOwnedPages": deadOwnedPages(platform),
  };
}

/** Window entries still owned by a dead domain, counted over the owned runs. */
function deadOwnedPages(platform: Platform): number {
  let n = 0;
  for (const io of platform.hv.iommus.values()) {
    const runs = ownedRuns(io);
    for (let r = 0; r < runs.length; r += 3)
      if (!platform.hv.domains[runs[r + 2]!]!.alive) n += runs[r + 1]!;
  }
  return n;
}
