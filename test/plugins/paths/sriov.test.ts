import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  applySets,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
} from "../../../core/harness/scenario/load.ts";
import { runScenario } from "../../../core/harness/scenario/run-scenario.ts";
import { definePlugin, type Report } from "../../../core/index.ts";
import { cli } from "../../helpers/cli.ts";

/** Payload bytes each domain completed, per path, counted from `io.done`. */
function bytesPerDomain() {
  const byPath = new Map<string, Map<number, number>>();
  const observer = definePlugin({
    name: "test-bytes-per-domain",
    kind: "observer",
    version: "0.0.1",
    setup(ctx) {
      ctx.bus.on("io.done", (e) => {
        let m = byPath.get(e.path);
        if (m === undefined) byPath.set(e.path, (m = new Map()));
        m.set(e.domain, (m.get(e.domain) ?? 0) + e.bytes);
      });
    },
  });
  return { observer, byPath };
}

async function run(raw: unknown, observers: ReturnType<typeof definePlugin>[] = []) {
  const scn = parseScenario(raw);
  return runScenario(raw, scn, await loadScenarioPlugins(scn, process.cwd()), { observers });
}

async function defaultWith(sets: string[], observers: ReturnType<typeof definePlugin>[] = []) {
  const raw = applySets(await loadScenarioFile("default", process.cwd()), [
    'duration="2ms"',
    ...sets,
  ]);
  return run(raw, observers);
}

const nicStreams = (a: object, b: object) =>
  `workloads=[{"plugin":["stream",${JSON.stringify(a)}],"device":"nic","guests":["ldg1"]},{"plugin":["stream",${JSON.stringify(b)}],"device":"nic","guests":["ldg2"]}]`;

/** A frame's bits on the wire: padded to 60 B, then FCS, preamble and gap (24 B; plugins/devices/nic.ts). */
const wireBits = (bytes: number) => (Math.max(bytes, 60) + 24) * 8;

/** Wire Gb/s of `payload` bytes sent in frames of `bytes` over `ns`. */
const wireGbps = (payload: number, bytes: number, ns: number) =>
  ((payload / bytes) * wireBits(bytes)) / ns;

describe("sriov: a virtual function per guest on a shared physical port", () => {
  test("one VF alone on its port behaves as the direct path: same DVMA work, same figures", async () => {
    const rep = await defaultWith([
      'paths=["direct","sriov"]',
      'workloads=[{"plugin":["stream",{"op":"tx","bytes":1500,"inflight":16}],"device":"nic","guests":["ldg1"]}]',
    ]);
    const { direct, sriov } = rep.points[0]!.paths;
    expect(sriov!.ios).toBeGreaterThan(1000);
    expect(sriov!.errors).toBe(0);
    // The guest maps its own grants: two hypercalls per I/O, no control-domain work per I/O.
    expect(sriov!.perIo.hypercalls).toBeCloseTo(2, 1);
    expect(sriov!.perIo.ldcMessages).toBeLessThan(0.01);
    // Only event order differs (the port's turn is one more wait): the same figures to 0.1%.
    for (const k of ["throughputGbps", "iops"] as const)
      expect(Math.abs(sriov![k] / direct![k] - 1)).toBeLessThan(0.001);
    expect(sriov!.latencyUs.p50).toBe(direct!.latencyUs.p50);
    expect(sriov!.perIo).toEqual(direct!.perIo);
  });

  test("two VFs on one port: together at most its line rate, each half of it, though one asks 8x more", async () => {
    const { observer, byPath } = bytesPerDomain();
    const rep = await defaultWith(
      [
        'paths=["direct","sriov"]',
        nicStreams({ op: "tx", bytes: 1500, inflight: 64 }, { op: "tx", bytes: 1500, inflight: 8 }),
      ],
      [observer],
    );
    const ns = rep.durationNs;
    const vf = [...byPath.get("sriov")!.values()].map((b) => wireGbps(b, 1500, ns));
    expect(vf.length).toBe(2);
    const sum = vf[0]! + vf[1]!;
    expect(sum).toBeLessThanOrEqual(10.001);
    expect(sum).toBeGreaterThan(9.5); // the port is kept busy
    for (const g of vf) expect(g / sum).toBeGreaterThan(0.45);
    // Each guest owning a whole NIC (direct), the 64-deep stream alone fills its own wire.
    const own = [...byPath.get("direct")!.values()].map((b) => wireGbps(b, 1500, ns));
    expect(own[0]! + own[1]!).toBeGreaterThan(12);
    expect(rep.points[0]!.paths.sriov!.errors).toBe(0);
  });

  test("with one VF per port (vfsPerPort 1) each guest has its port to itself", async () => {
    const rep = await defaultWith([
      'paths=["direct",["sriov",{"vfsPerPort":1}]]',
      nicStreams({ op: "tx", bytes: 1500, inflight: 16 }, { op: "rx", bytes: 1500, inflight: 16 }),
    ]);
    const { direct, sriov } = rep.points[0]!.paths;
    expect(sriov!.throughputGbps).toBeCloseTo(direct!.throughputGbps, 2);
  });

  test("60-byte frames: two VFs together stay under the port's 14.88 Mpps, two NICs pass it", async () => {
    const rep = await defaultWith([
      'duration="1ms"',
      'paths=["direct","sriov"]',
      "machine.domains.1.strands=16",
      "machine.domains.2.strands=16",
      'devices.nic=["nic",{"queues":16}]',
      'policies.local="iova-rcache"',
      'workloads=[{"plugin":["stream",{"op":"tx","bytes":60,"inflight":128}],"device":"nic"}]',
    ]);
    const { direct, sriov } = rep.points[0]!.paths;
    const lineRatePps = 10e9 / ((60 + 24) * 8); // 14.88M: 84 B on the wire per minimum frame
    expect(sriov!.iops).toBeLessThanOrEqual(lineRatePps);
    expect(direct!.iops).toBeGreaterThan(lineRatePps);
    expect(sriov!.errors + direct!.errors).toBe(0);
  });

  test("the port's PCIe link is shared too: at 100 Gb/s two VFs move at most one x8 link's 6.5 GB/s", async () => {
    const rep = await defaultWith([
      'duration="1ms"',
      'paths=["direct","sriov"]',
      'devices.nic=["nic",{"lineRateGbps":100,"mtu":9000}]',
      'workloads=[{"plugin":["stream",{"op":"tx","inflight":32}],"device":"nic"}]',
    ]);
    const { direct, sriov } = rep.points[0]!.paths;
    expect(sriov!.extra["nic.gbps"]!).toBeLessThanOrEqual(6.5 * 8);
    expect(sriov!.extra["nic.gbps"]!).toBeGreaterThan(6.5 * 8 * 0.9);
    expect(direct!.extra["nic.gbps"]!).toBeGreaterThan(6.5 * 8 * 1.5);
  });

  test("property: the VFs of a port never carry more than its line rate together, and none starves", async () => {
    // Seeded by test/helpers/fc.ts (FC_SEED); a counterexample prints its seed and path.
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("tx", "rx"),
        fc.array(
          fc.record({
            bytes: fc.constantFrom(64, 256, 1500, 9000),
            inflight: fc.integer({ min: 1, max: 32 }),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        async (op, guests) => {
          const { observer, byPath } = bytesPerDomain();
          const names = guests.map((_, i) => `g${i + 1}`);
          const raw = {
            name: "sriov-share",
            seed: 1,
            duration: "500us",
            machine: {
              rootComplexes: [{ devhandle: 0x200 }],
              domains: [
                { name: "primary", role: "control", strands: 4, memoryMiB: 512 },
                ...names.map((name) => ({ name, strands: 4, memoryMiB: 256 })),
              ],
              devices: names.map((name, i) => ({
                name: `nic-${name}`,
                kind: "nic",
                devhandle: 0x200,
                requesterId: (i + 1) << 8,
                domain: name,
              })),
            },
            devices: { nic: ["nic", { mtu: 9000 }] },
            paths: ["sriov"],
            workloads: guests.map((g, i) => ({
              plugin: ["stream", { op, bytes: g.bytes, inflight: g.inflight }],
              guests: [names[i]],
            })),
          };
          const rep: Report = await run(raw, [observer]);
          const done = byPath.get("sriov") ?? new Map<number, number>();
          let bits = 0;
          guests.forEach((g, i) => {
            const b = done.get(i + 1) ?? 0; // domain ids: primary 0, guests from 1
            expect(b).toBeGreaterThan(0);
            bits += (b / g.bytes) * wireBits(g.bytes);
          });
          // 10 Gb/s is 10 bits per ns; one frame may straddle the end.
          expect(bits).toBeLessThanOrEqual(10 * rep.durationNs + wireBits(9000));
        },
      ),
      { numRuns: 8 },
    );
  }, 120_000);

  test("a VF cannot DMA into another guest's memory, even where devices share one IOTSB", async () => {
    const raw = applySets(await loadScenarioFile("isolation", process.cwd()), [
      'paths=["sriov"]',
      "matrix={}",
    ]);
    const rep = await run(raw);
    const m = rep.points[0]!.paths.sriov!;
    expect(rep.points[0]!.params).toEqual({});
    expect(m.attacks).toBeGreaterThan(100);
    expect(m.blocked).toBe(m.attacks);
    expect(m.errors).toBe(0); // the victims' buffers held exactly their own data
    expect(m.extra.invariantViolations).toBe(0);
  });

  test("runs in `default` from the command line; a bus with too many VF domains is refused", async () => {
    const ok = await cli("run", "default", "--set", 'paths=["sriov"]', "--set", 'duration="1ms"');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^sriov\s+\d/m);
    const bad = await cli(
      "run",
      "default",
      "--set",
      'paths=[["sriov",{"domainsPerBus":1}]]',
      "--set",
      'duration="1ms"',
    );
    expect(bad.code).toBe(2);
    expect(bad.err.trim().split("\n")).toEqual([
      "error: sriov: root complex 0x200 has VFs in 2 domains; a PCIe bus serves at most 1 (option domainsPerBus)",
    ]);
  });
});
