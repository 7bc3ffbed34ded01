import { describe, expect, test } from "bun:test";
import type { EventBus } from "../../../core/index.ts";
import { runOneGuest } from "../../helpers/one-guest.ts";

/** One guest with one NVMe disk, one workload, 5 ms over `path`; `tap` sees the run's bus. */
const runDisk = (
  workload: [string, object],
  nvme: object = {},
  tap?: (bus: EventBus) => void,
  path = "direct",
) => runOneGuest({ kind: "nvme", workload, device: nvme, tap, path });

describe("nvme", () => {
  test("over the direct path, reads deliver the tagged data and writes are verified", async () => {
    const ops = { read: 0, write: 0 };
    const r = await runDisk(["random-io", { readRatio: 0.5, blockSize: 65536 }], {}, (bus) =>
      bus.on("io.done", (e) => void (ops[e.op as "read" | "write"] += 1)),
    );
    // The direct path checks every read buffer holds tag + k per page; a write the disk saw
    // with other data fails with data-corrupt. Either would count as an error.
    expect(r.metrics.errors).toBe(0);
    expect(r.metrics.faults).toBe(0);
    expect(r.metrics.ios).toBeGreaterThan(100);
    expect(ops.read).toBeGreaterThan(50);
    expect(ops.write).toBeGreaterThan(50);
  });

  test("large requests (PRP lists) work on every path", async () => {
    for (const path of ["direct", "service-domain", "bare-metal"]) {
      const r = await runDisk(
        ["stream", { op: "read", bytes: 1 << 20, inflight: 4 }],
        {},
        undefined,
        path,
      );
      expect({ path, errors: r.metrics.errors }).toEqual({ path, errors: 0 });
      expect(r.metrics.ios).toBeGreaterThan(5);
    }
  });

  test("read latency p50 is the media latency plus small overheads", async () => {
    for (const readLatencyUs of [80, 200]) {
      const r = await runDisk(["random-io", { readRatio: 1, iodepth: 1 }], { readLatencyUs });
      const p50 = r.metrics.latencyUs.p50;
      expect(p50).toBeGreaterThan(readLatencyUs * 0.95);
      expect(p50).toBeLessThan(readLatencyUs + 25);
    }
  });

  test("queue depth bounds the commands in flight on a queue pair", async () => {
    const fixed = { latencySigma: 0, channels: 64, readLatencyUs: 80, queues: 1 };
    const iops = async (queueDepth: number) =>
      (await runDisk(["random-io", { readRatio: 1, iodepth: 32 }], { ...fixed, queueDepth }))
        .metrics.iops;
    const q4 = await iops(4);
    const q16 = await iops(16);
    // Little's law: at most queueDepth commands, each at least 80 µs.
    expect(q4).toBeLessThanOrEqual(4 / 80e-6);
    expect(q4).toBeGreaterThan(0.8 * (4 / 80e-6));
    expect(q16).toBeLessThanOrEqual(16 / 80e-6);
    expect(q16 / q4).toBeGreaterThan(3.5);
  });

  test("a queue pair per vCPU: each vCPU's commands have their own queue depth", async () => {
    const fixed = { latencySigma: 0, channels: 64, readLatencyUs: 80, queueDepth: 4 };
    const iops = async (o: object) =>
      (
        await runOneGuest({
          kind: "nvme",
          workload: ["random-io", { readRatio: 1, iodepth: 16 }],
          device: { ...fixed, ...o },
          strands: 4,
        })
      ).metrics.iops;
    const one = await iops({ queues: 1 });
    const perVcpu = await iops({});
    expect(one).toBeLessThanOrEqual(4 / 80e-6);
    expect(perVcpu).toBeLessThanOrEqual(16 / 80e-6);
    expect(perVcpu).toBeGreaterThan(3.5 * one);
  });

  test("completion interrupts run on the vCPU whose queue completed", async () => {
    // Two lanes, one per vCPU: with a queue each, each vCPU takes its own interrupts; with one
    // queue, vCPU 0 takes them all.
    const busy = async (o: object) =>
      (
        await runOneGuest({
          kind: "nvme",
          workload: ["random-io", { readRatio: 1, iodepth: 2 }],
          device: { latencySigma: 0, ...o },
          strands: 2,
        })
      ).metrics.vcpus!.ldg1!;
    const [a0, a1] = await busy({});
    expect(Math.abs(a0! - a1!)).toBeLessThan(0.1 * a0!);
    const [b0, b1] = await busy({ queues: 1 });
    expect(b0!).toBeGreaterThan(1.3 * b1!);
  });

  test("channels bound the commands in the media", async () => {
    const r = await runDisk(["random-io", { readRatio: 1, iodepth: 64 }], {
      latencySigma: 0,
      channels: 2,
    });
    expect(r.metrics.iops).toBeLessThanOrEqual(2 / 80e-6);
    expect(r.metrics.iops).toBeGreaterThan(0.9 * (2 / 80e-6));
  });

  test("media bandwidth is shared by all transfers", async () => {
    for (const bandwidthGBps of [3, 1.5]) {
      const r = await runDisk(["stream", { op: "read", bytes: 1 << 20, inflight: 16 }], {
        bandwidthGBps,
      });
      expect(r.metrics.throughputGbps).toBeLessThanOrEqual(bandwidthGBps * 8);
      expect(r.metrics.throughputGbps).toBeGreaterThan(bandwidthGBps * 8 * 0.75);
    }
  });

  test("bad options name the option", async () => {
    await expect(runDisk(["random-io", {}], { maxTransferBytes: 100 })).rejects.toThrow(
      /plugin "nvme" option \/maxTransferBytes/,
    );
  });
});
