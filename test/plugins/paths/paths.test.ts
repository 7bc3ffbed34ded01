import { describe, expect, test } from "bun:test";
import {
  applySets,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
} from "../../../core/harness/scenario/load.ts";
import { runScenario } from "../../../core/harness/scenario/run-scenario.ts";

async function defaultReport(sets: string[] = []) {
  const raw = applySets(await loadScenarioFile("default", process.cwd()), [
    'duration="3ms"',
    ...sets,
  ]);
  const scn = parseScenario(raw);
  return runScenario(raw, scn, await loadScenarioPlugins(scn, process.cwd()));
}

describe("I/O paths over the same workload", () => {
  test("each path moves verified data; the service domain pays CPU per I/O, the direct path does not", async () => {
    const rep = await defaultReport();
    const { direct, "service-domain": svc, "bare-metal": bare } = rep.points[0]!.paths;
    for (const m of [direct!, svc!, bare!]) {
      expect(m.ios).toBeGreaterThan(1000);
      expect(m.errors).toBe(0); // every rx buffer held exactly the data the device delivered
      expect(m.faults).toBe(0);
    }
    const perIo = (m: typeof direct) => (m!.cpu.primary! * 8 * 3e6) / m!.ios; // control ns per I/O (8 strands, 3 ms)
    expect(perIo(direct)).toBeLessThan(10);
    expect(perIo(svc)).toBeGreaterThan(1000);
    expect(svc!.perIo.ldcMessages).toBeCloseTo(2, 1); // request + reply
    expect(direct!.perIo.ldcMessages).toBeLessThan(0.01); // leases: negotiation is amortised
    expect(bare!.perIo.hypercalls).toBe(0);
    expect(direct!.perIo.hypercalls).toBeCloseTo(2, 1); // map + demap
    expect(bare!.throughputGbps).toBeGreaterThanOrEqual(direct!.throughputGbps * 0.99);
    expect(svc!.throughputGbps).toBeLessThan(direct!.throughputGbps);
  });

  test("per-map negotiation puts the control domain back on every I/O of the direct path", async () => {
    const rep = await defaultReport(["guestDma.acquire=per-map", 'paths=["direct"]']);
    const m = rep.points[0]!.paths.direct!;
    expect(m.errors).toBe(0);
    expect(m.perIo.ldcMessages).toBeGreaterThan(3.9); // request, grant, release, ack
    expect(m.cpu.primary!).toBeGreaterThan(0);
  });
});
