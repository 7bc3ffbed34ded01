import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { runPath } from "../../../core/harness/scenario/runner.ts";
import { type EventBus, loadScenarioPlugins, parseScenario } from "../../../core/index.ts";
import { FC_SEED } from "../../helpers/fc.ts";
import { tap } from "../../helpers/tap.ts";

interface NicRun {
  workloads: [string, object][];
  nic?: object;
  strands?: number;
  path?: string;
  duration?: string;
  /** Sees the run's bus before it boots. */
  on?: (bus: EventBus) => void;
}

/** One guest with one NIC: its workloads over `path` (bare metal by default). */
async function runNic(o: NicRun) {
  const path = o.path ?? "bare-metal";
  const scn = parseScenario({
    name: "nic",
    duration: o.duration ?? "1ms",
    machine: {
      rootComplexes: [{ devhandle: 0x200 }],
      domains: [
        { name: "primary", role: "control", strands: 8, memoryMiB: 512 },
        { name: "ldg1", strands: o.strands ?? 8, memoryMiB: 512 },
      ],
      devices: [
        { name: "nic1", kind: "nic", devhandle: 0x200, requesterId: 0x100, domain: "ldg1" },
      ],
    },
    devices: o.nic ? { nic: ["nic", o.nic] } : {},
    // Per-CPU IOVA caches: a single allocator lock would bound small-frame rates before the NIC.
    policies: { local: "iova-rcache" },
    paths: [path],
    workloads: o.workloads.map((plugin) => ({ plugin })),
  });
  const table = await loadScenarioPlugins(scn, process.cwd());
  return runPath(scn, path, table, {}, { observers: o.on ? [tap(o.on)] : [] });
}

/** Frames per second a 10 GbE wire carries at `bytes` per frame (60-byte minimum, 24 B framing). */
const lineRatePps = (bytes: number, gbps = 10) => (gbps * 1e9) / (8 * (Math.max(bytes, 60) + 24));

describe("nic", () => {
  test("full duplex: tx and rx together carry at least 1.8x one direction", async () => {
    // At 40 GbE with jumbo frames a half-duplex PCIe link (6.5 GB/s) would bind before the wire.
    const cases = [
      { path: "bare-metal", nic: {}, gbps: 10 },
      { path: "direct", nic: {}, gbps: 10 },
      { path: "bare-metal", nic: { lineRateGbps: 40, mtu: 9000 }, gbps: 40 },
    ];
    for (const { path, nic, gbps } of cases) {
      const tx = ["stream", { op: "tx", inflight: 32 }] as [string, object];
      const rx = ["stream", { op: "rx", inflight: 32 }] as [string, object];
      const one = (await runNic({ workloads: [tx], path, nic })).metrics.throughputGbps;
      const both = (await runNic({ workloads: [tx, rx], path, nic })).metrics.throughputGbps;
      const c = { path, gbps, one, both };
      expect({ c, one: one > 0.9 * gbps }).toEqual({ c, one: true });
      expect({ c, ratio: both / one >= 1.8 }).toEqual({ c, ratio: true });
      expect(both).toBeLessThanOrEqual(2 * gbps);
    }
  });

  test("the MTU sets a stream's frame size: at MTU 9000 every frame is 9000 bytes", async () => {
    const frames = async (mtu: number) => {
      const sizes = new Set<number>();
      const dmaSizes = new Set<number>();
      const r = await runNic({
        workloads: [["stream", { op: "tx", inflight: 8 }]],
        nic: { mtu },
        path: "direct",
        on: (bus) => {
          bus.on("io.done", (e) => void sizes.add(e.bytes));
          bus.on("dma.done", (e) => void (e.bytes > 16 * 16 && dmaSizes.add(e.bytes)));
        },
      });
      return { sizes: [...sizes], dmaSizes: [...dmaSizes], r };
    };
    const jumbo = await frames(9000);
    const std = await frames(1500);
    expect(jumbo.sizes).toEqual([9000]);
    expect(jumbo.dmaSizes).toEqual([9000]);
    expect(std.sizes).toEqual([1500]);
    // Bigger frames: fewer per second, less framing per byte, so more payload on the same wire.
    expect(jumbo.r.metrics.iops).toBeLessThan(std.r.metrics.iops / 5);
    expect(jumbo.r.metrics.throughputGbps).toBeGreaterThan(std.r.metrics.throughputGbps);
    // A workload that names its size keeps it.
    const named = await runNic({
      workloads: [["stream", { op: "tx", bytes: 1000, inflight: 8 }]],
      nic: { mtu: 9000 },
    });
    expect(named.metrics.throughputGbps * 1e9).toBeCloseTo(named.metrics.iops * 8000, -3);
  });

  test("60-byte frames on bare metal scale with vCPUs and queues up to the 14.88 Mpps line rate", async () => {
    const mpps = async (strands: number, queues: number) =>
      (
        await runNic({
          workloads: [["stream", { op: "tx", bytes: 60, inflight: 128 }]],
          nic: { queues },
          strands,
          duration: "2ms",
        })
      ).metrics.iops / 1e6;
    const line = lineRatePps(60) / 1e6;
    expect(line).toBeCloseTo(14.88, 2);
    const cpu1 = await mpps(1, 1);
    const cpu4 = await mpps(4, 4);
    const cpu16q1 = await mpps(16, 1);
    const cpu16 = await mpps(16, 16);
    // CPU-bound: four vCPUs nearly four times one.
    expect(cpu4).toBeGreaterThan(3.5 * cpu1);
    // Queue-bound: one queue's reads in flight cap it below line rate however many vCPUs.
    expect(cpu16q1).toBeLessThan(0.75 * line);
    // Enough vCPUs and queues: the wire binds, within the ramp-up of the first microseconds.
    expect(cpu16).toBeGreaterThan(0.97 * line);
    expect(cpu16).toBeLessThanOrEqual(line);
  });

  test("property: no configuration carries more frames than the wire can, in either direction", async () => {
    const cases = fc.sample(
      fc.record({
        bytes: fc.integer({ min: 1, max: 1500 }),
        gbps: fc.constantFrom(1, 10, 25, 100),
        queues: fc.integer({ min: 1, max: 16 }),
        strands: fc.integer({ min: 1, max: 16 }),
        batch: fc.integer({ min: 1, max: 64 }),
        readsInFlight: fc.integer({ min: 1, max: 16 }),
        inflight: fc.integer({ min: 1, max: 128 }),
        duplex: fc.boolean(),
        path: fc.constantFrom("bare-metal", "direct"),
      }),
      { numRuns: 12, seed: FC_SEED },
    );
    for (const c of cases) {
      const dir = (op: string) => ["stream", { op, bytes: c.bytes, inflight: c.inflight }];
      const counts = { tx: 0, rx: 0 };
      const r = await runNic({
        workloads: (c.duplex ? [dir("tx"), dir("rx")] : [dir("tx")]) as [string, object][],
        nic: {
          lineRateGbps: c.gbps,
          queues: c.queues,
          batch: c.batch,
          readsInFlight: c.readsInFlight,
        },
        strands: c.strands,
        path: c.path,
        duration: "200us",
        on: (bus) => bus.on("io.done", (e) => void counts[e.op as "tx" | "rx"]++),
      });
      // Every frame counted finished on the wire within the run: one more at most, for rounding.
      const bound = lineRatePps(c.bytes, c.gbps) * 200e-6 + 1;
      expect({ c, seed: FC_SEED, tx: counts.tx <= bound }).toEqual({ c, seed: FC_SEED, tx: true });
      expect({ c, seed: FC_SEED, rx: counts.rx <= bound }).toEqual({ c, seed: FC_SEED, rx: true });
      expect(r.metrics.errors).toBe(0);
    }
  });

  test("coalescing trades latency for guest CPU: fewer interrupts, less CPU per frame", async () => {
    // Wire-bound (1500-byte frames), so both carry line rate and the CPU per frame is comparable.
    const run = async (nic: object) => {
      const r = await runNic({
        workloads: [["stream", { op: "tx", inflight: 32 }]],
        nic: { queues: 1, ...nic },
        strands: 2,
      });
      return { ...r.metrics, cpuNsPerIo: (r.metrics.cpu.ldg1! * 2 * 1e6) / r.metrics.ios };
    };
    const each = await run({});
    const held = await run({ coalesceNs: 20_000, coalesceFrames: 64 });
    expect(held.throughputGbps).toBeGreaterThan(0.95 * each.throughputGbps);
    expect(held.cpuNsPerIo).toBeLessThan(each.cpuNsPerIo - 100);
    expect(held.latencyUs.p50).toBeGreaterThan(each.latencyUs.p50 + 5);
  });

  test("descriptors move in batches: fewer ring DMAs per frame, and a queue goes faster", async () => {
    // One queue with reads enough in flight: its rings' one-at-a-time DMAs bind first.
    const run = async (batch: number) => {
      let ring = 0;
      let frames = 0;
      const r = await runNic({
        workloads: [["stream", { op: "tx", bytes: 60, inflight: 128 }]],
        nic: { batch, queues: 1, readsInFlight: 16 },
        strands: 8,
        duration: "200us",
        on: (bus) => {
          // Ring DMAs move whole 16-byte descriptors; the 60-byte frames do not.
          bus.on("dma.done", (e) => void (e.bytes % 16 === 0 && ring++));
          bus.on("io.done", () => void frames++);
        },
      });
      return { mpps: r.metrics.iops / 1e6, ringPerFrame: ring / frames };
    };
    const one = await run(1);
    const batched = await run(16);
    // Unbatched: a fetch and a write-back per frame, each DMA at least dmaSetupNs (100 ns).
    expect(one.ringPerFrame).toBeGreaterThanOrEqual(2);
    expect(one.mpps).toBeLessThan(10);
    expect(batched.ringPerFrame).toBeLessThan(1.3);
    expect(batched.mpps).toBeGreaterThan(1.3 * one.mpps);
  });

  test("rx: a descriptor ring has one DMA in flight, prefetches booked without waiting included", async () => {
    // One queue, many buffers posted: prefetches come while the ring's last DMA still runs.
    for (const path of ["bare-metal", "direct"]) {
      const fetches: [number, number][] = [];
      let frames = 0;
      const r = await runNic({
        workloads: [["stream", { op: "rx", bytes: 60, inflight: 64 }]],
        nic: { queues: 1 },
        path,
        duration: "200us",
        on: (bus) => {
          // Descriptor reads are the rx ring's prefetches (the only reads of an rx stream).
          bus.on("dma.done", (e) => {
            if (!e.write) fetches.push([e.t - e.durNs, e.t]);
          });
          bus.on("io.done", () => void frames++);
        },
      });
      expect(r.metrics.errors).toBe(0);
      expect(frames).toBeGreaterThan(500);
      expect(fetches.length).toBeGreaterThan(10);
      fetches.sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < fetches.length; i++)
        expect(fetches[i]![0]).toBeGreaterThanOrEqual(fetches[i - 1]![1]);
    }
  });
});
