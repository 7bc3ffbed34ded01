import { describe, expect, test } from "bun:test";
import {
  applySets,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
} from "../../core/harness/scenario/load.ts";
import { runScenario } from "../../core/harness/scenario/run-scenario.ts";
import type { PathMetrics } from "../../core/index.ts";
import { cli } from "../helpers/cli.ts";

const raw = applySets(await loadScenarioFile("small-packets", process.cwd()), [
  'matrix={"workloads.0.plugin.1.bytes":[60,1500,9000],"guestDma.unmap":["strict","deferred"],"machine.domains.1.strands":[1,4]}',
]);
const scn = parseScenario(raw);
const report = runScenario(raw, scn, await loadScenarioPlugins(scn, process.cwd()));

function at(bytes: number, unmap: string, strands: number): Record<string, PathMetrics> {
  const p = report.points.find(
    (x) =>
      x.params["workloads.0.plugin.1.bytes"] === bytes &&
      x.params["guestDma.unmap"] === unmap &&
      x.params["machine.domains.1.strands"] === strands,
  );
  if (p === undefined) throw new Error(`no point ${bytes} ${unmap} ${strands}`);
  return p.paths;
}

describe("small-packets: where the guest-side cost of the method matters", () => {
  test("every run moves verified data and stays within the wire and the guest's vCPUs", () => {
    for (const p of report.points)
      for (const m of Object.values(p.paths)) {
        expect(m.errors).toBe(0);
        expect(m.throughputGbps).toBeLessThanOrEqual(10);
        for (const u of Object.values(m.cpu)) expect(u).toBeLessThanOrEqual(1);
      }
  });

  test("small frames, on 1 or 4 vCPUs: the guest's CPU binds, and strict unmap costs throughput", () => {
    for (const strands of [1, 4]) {
      for (const unmap of ["strict", "deferred"]) {
        const { direct, "bare-metal": bare } = at(60, unmap, strands);
        expect(direct!.cpu.ldg1!).toBeGreaterThan(0.95);
        expect(direct!.iops).toBeLessThan(bare!.iops * 0.85);
      }
      expect(at(60, "strict", strands).direct!.iops).toBeLessThan(
        at(60, "deferred", strands).direct!.iops * 0.85,
      );
    }
  });

  test("standard frames on 4 vCPUs, or jumbo frames, the method is within 5% of bare metal", () => {
    for (const unmap of ["strict", "deferred"]) {
      for (const [bytes, strands] of [
        [1500, 4],
        [9000, 1],
        [9000, 4],
      ] as const) {
        const { direct, "bare-metal": bare } = at(bytes, unmap, strands);
        expect(direct!.throughputGbps).toBeGreaterThan(bare!.throughputGbps * 0.95);
      }
    }
  });

  test("a VF alone on its port costs its guest what the direct path does", () => {
    for (const p of report.points) {
      const { direct, sriov } = p.paths;
      expect(Math.abs(sriov!.iops / direct!.iops - 1)).toBeLessThan(0.002);
    }
  });

  test("the command line prints one table per pivot metric: a row per point, a column per path", async () => {
    const r = await cli(
      "run",
      "small-packets",
      "--set",
      'duration="200us"',
      "--set",
      'matrix={"machine.domains.1.strands":[1,4]}',
    );
    expect(r.code).toBe(0);
    const table = r.out.slice(r.out.indexOf("throughputGbps by point and path"));
    const lines = table.split("\n");
    expect(lines[1]).toMatch(/^strands\s+bare-metal\s+direct\s+sriov\s+service-domain$/);
    expect(lines[2]).toMatch(/^1\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+$/);
    expect(lines[3]).toMatch(/^4\s/);
    expect(r.out).toContain("cpu/ldg1 by point and path");
  });
});
