import { expect } from "bun:test";
import type { Report } from "../../core/harness/report/report.ts";

/** The report's stable shape (DESIGN section 3), and no violated invariant in any run. */
export function expectStableShape(r: Report): void {
  expect(Object.keys(r)).toEqual(["scenario", "seed", "durationNs", "costModel", "points"]);
  for (const p of r.points) {
    for (const m of Object.values(p.paths)) {
      for (const k of [
        "throughputGbps",
        "iops",
        "latencyUs",
        "cpu",
        "perIo",
        "dvma",
        "faults",
        "blocked",
      ]) {
        expect(m).toHaveProperty(k);
      }
      expect(Object.keys(m.latencyUs)).toEqual(["p50", "p99", "p999"]);
      expect(Object.keys(m.perIo)).toEqual(["hypercalls", "ldcMessages", "iotlbFlushes"]);
      expect(m.extra.invariantViolations).toBe(0);
    }
  }
}
