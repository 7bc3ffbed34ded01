import type { Platform } from "../../model/domains/platform.ts";
import { round } from "../report/report.ts";

/**
 * Who went without DVMA, per guest: maps refused (no lease, even at the smallest fallback size)
 * and the time its DMA API spent waiting for the broker's answers (µs); and how many guests
 * starved outright (refused maps and not one map done).
 */
export function starvationFigures(platform: Platform): Record<string, number> {
  const out: Record<string, number> = {};
  let starved = 0;
  for (const g of platform.guests) {
    let refused = 0;
    let maps = 0;
    let waitNs = 0;
    for (const d of g.dma.values()) {
      refused += d.stats.refused;
      maps += d.stats.maps;
      waitNs += d.stats.dvmaWaitNs;
    }
    out[`${g.name}.dvmaRefused`] = refused;
    out[`${g.name}.dvmaWaitUs`] = round(waitNs / 1e3, 3);
    if (refused > 0 && maps === 0) starved++;
  }
  out["dvma.starvedGuests"] = starved;
  return out;
}
