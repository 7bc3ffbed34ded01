import type { Platform } from "../../model/domains/platform.ts";
import type { Lock } from "../../model/sim/lock.ts";
import { round } from "../report/report.ts";

/** Utilisation per domain (mean over its strands) and per vCPU, since time 0. */
export function cpuFigures(
  platform: Platform,
  untilNs: number,
): { cpu: Record<string, number>; vcpus: Record<string, number[]> } {
  const cpu: Record<string, number> = {};
  const vcpus: Record<string, number[]> = {};
  for (const d of platform.hv.domains) {
    const c = platform.cpus[d.id]!;
    cpu[d.name] = round(c.utilisation(untilNs));
    vcpus[d.name] = c.vcpuUtilisation(untilNs).map((u) => round(u));
  }
  return { cpu, vcpus };
}

/** Time held and time waited on each domain's locks (its policies' and its flush lock), µs. */
export function lockFigures(platform: Platform): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (domain: string, locks: readonly Lock[]) => {
    let wait = 0;
    let hold = 0;
    for (const l of locks) {
      wait += l.stats.waitNs;
      hold += l.stats.holdNs;
    }
    out[`${domain}.lockWaitUs`] = round(wait / 1e3, 3);
    out[`${domain}.lockHoldUs`] = round(hold / 1e3, 3);
  };
  add(platform.hv.control.name, platform.broker.policies.locks());
  for (const g of platform.guests)
    add(
      g.name,
      [...g.dma.values()].flatMap((d) => d.accounting.locks),
    );
  return out;
}
