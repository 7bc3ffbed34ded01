import { expect, test } from "bun:test";
import type { EventBus } from "../../../core/index.ts";
import { runOneGuest } from "../../helpers/one-guest.ts";

/** One guest with one device of `kind` running request-response for 5 ms over the direct path. */
const run = (kind: "nic" | "nvme", options: object, tap?: (bus: EventBus) => void) =>
  runOneGuest({ kind, workload: ["request-response", options], strands: 4, tap });

const opsOf = (into: Map<string, number>) => (bus: EventBus) =>
  bus.on("io.done", (e) =>
    into.set(`${e.op}:${e.bytes}`, (into.get(`${e.op}:${e.bytes}`) ?? 0) + 1),
  );

test("on a NIC: request out, response back after the peer's RTT, round trip reported as rtt", async () => {
  const ops = new Map<string, number>();
  const r = await run("nic", { requestBytes: 64, responseBytes: 1024 }, opsOf(ops));
  const { extra } = r.metrics;
  expect(r.metrics.errors).toBe(0);
  expect(extra["rtt.count"]).toBeGreaterThan(50);
  // One transaction in flight: the count of tx and rx differs by at most the one in progress.
  expect(Math.abs(ops.get("tx:64")! - ops.get("rx:1024")!)).toBeLessThanOrEqual(1);
  expect(ops.size).toBe(2);
  // The round trip holds the peer's 10 µs, and request plus response I/O on top.
  expect(extra["rtt.p50Us"]).toBeGreaterThan(10 + r.metrics.latencyUs.p50);
  expect(extra["rtt.p99Us"]).toBeGreaterThanOrEqual(extra["rtt.p50Us"]!);
  const slower = await run("nic", { requestBytes: 64, responseBytes: 1024, peerRttNs: 50_000 });
  const added = slower.metrics.extra["rtt.p50Us"]! - extra["rtt.p50Us"]!;
  expect(added).toBeGreaterThan(35);
  expect(added).toBeLessThan(45);
});

test("transactions in flight and think time set the transaction rate", async () => {
  const one = (await run("nic", {})).metrics.extra["rtt.count"]!;
  const four = (await run("nic", { inflight: 4 })).metrics.extra["rtt.count"]!;
  const thinking = (await run("nic", { thinkNs: 50_000 })).metrics.extra["rtt.count"]!;
  expect(four).toBeGreaterThan(3 * one);
  expect(thinking).toBeLessThan(one / 2);
});

test("on a disk: read after write of requestBytes", async () => {
  const ops = new Map<string, number>();
  const r = await run("nvme", { requestBytes: 8192 }, opsOf(ops));
  expect(r.metrics.errors).toBe(0);
  expect([...ops.keys()].sort()).toEqual(["read:8192", "write:8192"]);
  expect(ops.get("write:8192")! - ops.get("read:8192")!).toBeLessThanOrEqual(1);
  // nvme defaults: 20 µs write + 80 µs read medians.
  expect(r.metrics.extra["rtt.p50Us"]).toBeGreaterThan(100);
});
