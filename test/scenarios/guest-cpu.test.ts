import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { runPath } from "../../core/harness/scenario/runner.ts";
import {
  definePlugin,
  loadScenarioPlugins,
  type PathMetrics,
  parseScenario,
  Type,
} from "../../core/index.ts";
import { BitmapNextFitPolicy } from "../../plugins/policies/bitmap-next-fit.ts";

/**
 * Guest CPUs as resources: the guest's DMA work, interrupts and policy calls hold its vCPUs, so
 * a guest with too few strands loses throughput, and nothing is ever more than 100% busy.
 */

/** bitmap-next-fit that reports `words` bitmap words scanned per call under one spinlock. */
const busyPolicy = definePlugin({
  name: "busy-next-fit",
  kind: "policy.local",
  version: "1.0.0",
  options: Type.Object({ words: Type.Integer({ minimum: 0, default: 0 }) }),
  setup(_ctx, o) {
    return ({ windowPages, meter }) => {
      const inner = new BitmapNextFitPolicy(windowPages);
      const lock = meter.lock("pool", "spin");
      const word = meter.unit("word");
      const metered = <T>(fn: () => T): T => {
        meter.acquire(lock);
        const r = fn();
        meter.work(word, o.words);
        meter.release(lock);
        return r;
      };
      return {
        addRange: (b: number, n: number) => inner.addRange(b, n),
        removeRange: (b: number, n: number) => inner.removeRange(b, n),
        alloc: (n: number, a: number, c: number) => metered(() => inner.alloc(n, a, c)),
        free: (p: number, n: number, c: number) => metered(() => inner.free(p, n, c)),
        stats: () => inner.stats(),
      };
    };
  },
});

interface Run {
  strands?: number;
  unmap?: "strict" | "deferred";
  bytes?: number;
  inflight?: number;
  path?: string;
  words?: number;
  durationMs?: number;
  controlStrands?: number;
  workload?: [string, object];
}

async function run(o: Run): Promise<PathMetrics> {
  const path = o.path ?? "direct";
  const raw = {
    name: "guest-cpu",
    duration: `${o.durationMs ?? 2}ms`,
    machine: {
      rootComplexes: [{ devhandle: 0x200 }],
      domains: [
        { name: "primary", role: "control", strands: o.controlStrands ?? 8, memoryMiB: 512 },
        { name: "ldg1", strands: o.strands ?? 4, memoryMiB: 512 },
      ],
      devices: [
        { name: "nic1", kind: "nic", devhandle: 0x200, requesterId: 0x100, domain: "ldg1" },
      ],
    },
    paths: [path],
    policies: { local: ["busy-next-fit", { words: o.words ?? 0 }] },
    guestDma: { unmap: o.unmap ?? "strict" },
    workloads: [
      {
        plugin: o.workload ?? [
          "stream",
          { op: "tx", bytes: o.bytes ?? 64, inflight: o.inflight ?? 16 },
        ],
      },
    ],
  };
  const scn = parseScenario(raw);
  const table = new Map(
    await loadScenarioPlugins(
      { ...scn, policies: { ...scn.policies, local: "bitmap-next-fit" } },
      process.cwd(),
    ),
  );
  table.set("busy-next-fit", busyPolicy);
  return runPath(scn, path, table, {}).metrics;
}

describe("guest vCPUs as resources", () => {
  test("a 1-strand guest is slower than a 4-strand guest on a small-packet stream", async () => {
    const one = await run({ strands: 1 });
    const four = await run({ strands: 4 });
    expect(one.cpu.ldg1!).toBeGreaterThan(0.95); // the one strand is the bottleneck
    expect(four.iops).toBeGreaterThan(1.5 * one.iops);
  });

  test("strict and deferred unmap differ where the guest CPU is the bottleneck, not where the wire is", async () => {
    const cpuBound = {
      strict: await run({ strands: 1, unmap: "strict" }),
      deferred: await run({ strands: 1, unmap: "deferred" }),
    };
    const wireBound = {
      strict: await run({ strands: 8, bytes: 1500, unmap: "strict" }),
      deferred: await run({ strands: 8, bytes: 1500, unmap: "deferred" }),
    };
    expect(cpuBound.deferred.iops).toBeGreaterThan(1.1 * cpuBound.strict.iops);
    expect(wireBound.strict.throughputGbps).toBeGreaterThan(9); // 10 GbE at 1500 B
    const ratio = wireBound.deferred.throughputGbps / wireBound.strict.throughputGbps;
    expect(Math.abs(ratio - 1)).toBeLessThan(0.02);
  });

  test("a policy doing more work per call gives lower throughput, all else equal", async () => {
    const light = await run({ strands: 1, words: 0 });
    const heavy = await run({ strands: 1, words: 500 }); // 1 µs per call at 2 ns a word
    expect(heavy.iops).toBeLessThan(0.8 * light.iops);
    // The work was done under the policy's lock on the guest's vCPU.
    expect(heavy.extra["ldg1.lockHoldUs"]!).toBeGreaterThan(light.extra["ldg1.lockHoldUs"]!);
  });

  test("no domain and no vCPU is ever above 100% busy (property over machines and workloads)", async () => {
    const workload = fc.oneof(
      fc
        .record({
          op: fc.constantFrom("tx", "rx"),
          bytes: fc.constantFrom(64, 512, 1500),
          inflight: fc.integer({ min: 1, max: 64 }),
        })
        .map((w): [string, object] => ["stream", w]),
      fc
        .record({ inflight: fc.integer({ min: 1, max: 16 }) })
        .map((w): [string, object] => ["request-response", { ...w, peerRttNs: 5_000 }]),
    );
    const config = fc.record({
      strands: fc.integer({ min: 1, max: 4 }),
      controlStrands: fc.integer({ min: 1, max: 4 }),
      path: fc.constantFrom("direct", "service-domain", "bare-metal"),
      unmap: fc.constantFrom("strict", "deferred") as fc.Arbitrary<"strict" | "deferred">,
      words: fc.constantFrom(0, 100),
      workload,
    });
    await fc.assert(
      fc.asyncProperty(config, async (c) => {
        const m = await run({ ...c, durationMs: 1 });
        for (const u of Object.values(m.cpu)) expect(u).toBeLessThanOrEqual(1);
        for (const us of Object.values(m.vcpus!))
          for (const u of us) expect(u).toBeLessThanOrEqual(1);
        expect(m.ios).toBeGreaterThan(0);
      }),
      { numRuns: 12 },
    );
  });
});
