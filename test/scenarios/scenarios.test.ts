import { describe, expect, test } from "bun:test";
import { htmlReport } from "../../core/harness/report/html-report.ts";
import type { PathMetrics, Report } from "../../core/harness/report/report.ts";
import {
  applySets,
  listScenarios,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
} from "../../core/harness/scenario/load.ts";
import { runScenario } from "../../core/harness/scenario/run-scenario.ts";
import { expectStableShape } from "../helpers/report.ts";

/** Runs a built-in scenario in-process with overrides (short durations keep the suite quick). */
async function run(name: string, sets: string[] = []): Promise<Report> {
  const raw = applySets(await loadScenarioFile(name, process.cwd()), sets);
  const scn = parseScenario(raw);
  return runScenario(raw, scn, await loadScenarioPlugins(scn, process.cwd()));
}

const at = (r: Report, key: string, value: unknown) =>
  r.points.find((p) => JSON.stringify(p.params[key]) === JSON.stringify(value))!;

/** Control-domain CPU ns per I/O. */
const controlNsPerIo = (m: PathMetrics, strands: number, ns: number) =>
  (m.cpu.primary! * strands * ns) / m.ios;

describe("built-in scenarios", () => {
  test("every scenario file loads and validates", async () => {
    const names = await listScenarios();
    expect(names).toEqual([
      "calibration",
      "default",
      "faults",
      "iova-stall",
      "isolation",
      "negotiation",
      "policies",
      "scale",
      "small-frames",
      "small-packets",
    ]);
    for (const n of names) parseScenario(await loadScenarioFile(n, process.cwd()));
  });

  test("default: the direct path keeps the control domain out of the data path", async () => {
    const r = await run("default", ['duration="3ms"']);
    expectStableShape(r);
    const { direct, "service-domain": svc, "bare-metal": bare } = r.points[0]!.paths;
    for (const m of [direct!, svc!, bare!]) {
      expect(m.errors).toBe(0);
      expect(m.extra["nic.iops"]).toBeGreaterThan(0);
      expect(m.extra["nvme.iops"]).toBeGreaterThan(0);
    }
    expect(controlNsPerIo(direct!, 8, 3e6)).toBeLessThan(controlNsPerIo(svc!, 8, 3e6) / 100);
    expect(svc!.perIo.ldcMessages).toBeGreaterThan(1.9);
    expect(svc!.extra["nic.p99Us"]!).toBeGreaterThan(direct!.extra["nic.p99Us"]!);
    expect(bare!.perIo.hypercalls).toBe(0);
  });

  test("scale: the service domain saturates while the direct path scales", async () => {
    const r = await run("scale", ['duration="500us"', 'matrix={"machine.guestPool.count":[1,64]}']);
    expectStableShape(r);
    const one = at(r, "machine.guestPool.count", 1).paths;
    const many = at(r, "machine.guestPool.count", 64).paths;
    expect(many["service-domain"]!.cpu.primary!).toBeGreaterThan(0.9); // saturated
    expect(one["service-domain"]!.cpu.primary!).toBeLessThan(0.2);
    // At 64 guests the direct path is limited by the root complex's link, the service path by
    // the control domain's CPUs: each service-domain guest gets a fraction of its 1-guest rate.
    expect(many.direct!.throughputGbps).toBeGreaterThan(2 * many["service-domain"]!.throughputGbps);
    expect(many["service-domain"]!.throughputGbps / 64).toBeLessThan(
      one["service-domain"]!.throughputGbps / 2,
    );
    expect(many.direct!.cpu.primary!).toBeLessThan(0.2);
  });

  test("negotiation: per-mapping negotiation costs LDC round trips and latency; leases amortise them", async () => {
    const r = await run("negotiation", ['duration="2ms"']);
    expectStableShape(r);
    const perMap = r.points[0]!.paths.direct!;
    const lease = r.points[1]!.paths.direct!;
    const partition = r.points[2]!.paths.direct!;
    expect(perMap.perIo.ldcMessages).toBeGreaterThan(3.9); // request, grant, release, ack
    expect(lease.perIo.ldcMessages).toBeLessThan(0.05);
    expect(partition.perIo.ldcMessages).toBeLessThan(lease.perIo.ldcMessages + 1e-9);
    expect(perMap.latencyUs.p50).toBeGreaterThan(2 * lease.latencyUs.p50);
    expect(perMap.cpu.primary!).toBeGreaterThan(lease.cpu.primary! + 0.1);
  });

  test("policies: every local policy serves every workload; per-map negotiation shows in LDC traffic", async () => {
    const r = await run("policies", ['duration="1ms"']);
    expectStableShape(r);
    expect(r.points.length).toBe(15);
    for (const p of r.points) {
      const m = p.paths.direct!;
      expect(m.errors).toBe(0);
      expect(m.ios).toBeGreaterThan(0);
      expect(m.extra["iotlb.hitRate"]).toBeGreaterThan(0);
      const perMap = p.params["policies.local"] === "negotiate-per-map";
      if (perMap) expect(m.perIo.ldcMessages).toBeGreaterThan(3.9);
      else expect(m.perIo.ldcMessages).toBeLessThan(0.2);
    }
  });

  test("isolation: per-device blocks every attack; shared lets rogue DMA through", async () => {
    const r = await run("isolation");
    expectStableShape(r);
    const shared = at(r, "machine.rootComplexes.0.isolation", "shared").paths.direct!;
    const perDevice = at(r, "machine.rootComplexes.0.isolation", "per-device").paths.direct!;
    expect(perDevice.attacks).toBeGreaterThan(0);
    expect(perDevice.blocked).toBe(perDevice.attacks);
    expect(shared.attacks).toBe(perDevice.attacks);
    expect(shared.blocked).toBeLessThan(shared.attacks);
  });

  test("faults: a dead guest, a broker restart and LDC loss leave nothing stale", async () => {
    const r = await run("faults");
    expectStableShape(r);
    const m = r.points[0]!.paths.direct!;
    expect(m.extra["dvma.deadOwnedPages"]).toBe(0);
    expect(m.cpu.ldg2!).toBeGreaterThan(0); // it ran before it died
    expect(m.ios).toBeGreaterThan(500);
  });

  test("iova-stall: the comb makes iova-rbtree walk every long-lived node; the gap-indexed trees stay logarithmic, the rcache short", async () => {
    const r = await run("iova-stall", [
      'duration="30ms"',
      'matrix={"machine.guestPool.strands":[4],"policies.local":["iova-rbtree","iova-augmented","iova-maple","iova-rcache"],"workloads.0.plugin.1.comb.live":[256,4096]}',
    ]);
    expectStableShape(r);
    const work = (policy: string, live: number) =>
      r.points.find(
        (p) =>
          p.params["policies.local"] === policy &&
          p.params["workloads.0.plugin.1.comb.live"] === live,
      )!.paths.direct!.extra;
    expect(work("iova-rbtree", 4096)["alloc.workMax"]).toBeGreaterThanOrEqual(4096);
    expect(work("iova-rbtree", 4096)["alloc.workMax"]!).toBeGreaterThan(
      8 * work("iova-rbtree", 256)["alloc.workMax"]!,
    );
    for (const policy of ["iova-augmented", "iova-maple"])
      for (const live of [256, 4096])
        expect(work(policy, live)["alloc.workMax"]).toBeLessThanOrEqual(8 * Math.log2(live));
    expect(work("iova-rcache", 4096)["alloc.workMax"]).toBeLessThan(64);
    // The walk happens under the lock: the longest hold covers the worst call's nodes at
    // policyNodeNs each, and the rbtree's holds and waits dwarf the maple tree's.
    const nodeNs = r.costModel.policyNodeNs!;
    for (const p of r.points) {
      const e = p.paths.direct!.extra;
      if (p.params["policies.local"] !== "iova-rcache")
        expect(Math.round(e["alloc.lockHoldMaxUs"]! * 1e3)).toBeGreaterThanOrEqual(
          e["alloc.workMax"]! * nodeNs,
        );
      expect(e["alloc.lockHoldP50Us"]!).toBeLessThanOrEqual(e["alloc.lockHoldP99Us"]!);
      expect(e["alloc.lockHoldP99Us"]!).toBeLessThanOrEqual(e["alloc.lockHoldMaxUs"]!);
      expect(e["alloc.lockWaitP99Us"]!).toBeLessThanOrEqual(e["alloc.lockWaitMaxUs"]!);
      expect(e["alloc.longestSpinUs"]!).toBeLessThanOrEqual(e["alloc.maxMapUs"]!);
    }
    const rb = work("iova-rbtree", 4096);
    const maple = work("iova-maple", 4096);
    expect(rb["alloc.lockHoldP99Us"]!).toBeGreaterThan(10 * maple["alloc.lockHoldP99Us"]!);
    expect(rb["alloc.lockWaitMaxUs"]!).toBeGreaterThan(10 * maple["alloc.lockWaitMaxUs"]!);
    expect(rb["alloc.longestSpinUs"]!).toBeGreaterThan(10 * maple["alloc.longestSpinUs"]!);
    // The window at the slowest map is kept and drawn: the comb's stretch of one-page holes
    // (about half its pages in use) zoomed; the note names the map the figures name.
    const slow = r.points.find(
      (p) =>
        p.params["policies.local"] === "iova-rbtree" &&
        p.params["workloads.0.plugin.1.comb.live"] === 4096,
    )!.paths.direct!;
    const moment = slow.dvmaMoments![0]!;
    expect(moment.note).toStartWith(`slowest map (${slow.extra["alloc.maxMapUs"]} µs, `);
    expect(moment.usedPages).toBeGreaterThanOrEqual(4096);
    const zoom = moment.strips[1]!;
    expect(zoom.used).toHaveLength(880);
    const mean = zoom.used.reduce((a, b) => a + b, 0) / zoom.used.length;
    expect(mean).toBeGreaterThan(0.4);
    expect(mean).toBeLessThan(0.6);
    expect(
      htmlReport(
        r,
        parseScenario(applySets(await loadScenarioFile("iova-stall", process.cwd()), [])),
      ),
    ).toContain(`data-chart="dvma-moment"`);
    for (const p of r.points) {
      expect(p.paths.direct!.extra["alloc.failures"]).toBe(0);
      expect(p.paths.direct!.extra.policyErrors).toBe(0);
    }
  });
});
