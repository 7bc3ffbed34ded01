import { describe, expect, test } from "bun:test";
import { runPath } from "../../../core/harness/scenario/runner.ts";
import { loadScenarioPlugins, parseScenario } from "../../../core/index.ts";
import { invariantViolations } from "../../../core/model/domains/invariants.ts";
import { ATTACKS } from "../../../plugins/workloads/adversary.ts";
import { tap } from "../../helpers/tap.ts";

const HYPERCALL_ATTACKS = [
  "map-foreign-dvma",
  "demap-foreign-dvma",
  "getmap-foreign",
  "map-outside-window",
  "map-bogus-ra",
  "bogus-page-list",
  "grant-self",
];

interface Tally {
  tried: number;
  blocked: number;
  details: string[];
}

/**
 * Victims ldg1 (sends) and ldg2 (receives) stream on their NICs while `evil` attacks with its
 * own NIC; 10 rounds of every attack in 3 ms. Returns the metrics and a tally per attack.
 */
async function attack(
  isolation: "shared" | "per-device",
  opts: { victims?: boolean; unmap?: "strict" | "deferred" } = {},
) {
  const victims = opts.victims === false ? [] : ["ldg1", "ldg2"];
  const guests = [...victims, "evil"];
  const scn = parseScenario({
    name: "adversary-test",
    duration: "3ms",
    machine: {
      rootComplexes: [{ devhandle: 0x200, isolation }],
      domains: [
        { name: "primary", role: "control", strands: 8, memoryMiB: 512 },
        ...guests.map((name) => ({ name, strands: 4, memoryMiB: 256 })),
      ],
      devices: guests.map((domain, i) => ({
        name: `nic${i + 1}`,
        kind: "nic",
        devhandle: 0x200,
        requesterId: 0x100 * (i + 1),
        domain,
      })),
    },
    guestDma: { unmap: opts.unmap ?? "strict" },
    workloads: [
      { plugin: ["stream", { op: "tx", inflight: 16 }], guests: ["ldg1"] },
      { plugin: ["stream", { op: "rx", inflight: 8 }], guests: ["ldg2"] },
      { plugin: ["adversary", { rounds: 10, intervalNs: 20_000 }], guests: ["evil"] },
    ].filter((w) => w.guests.every((g) => guests.includes(g))),
  });
  const table = await loadScenarioPlugins(scn, process.cwd());
  const tally = new Map<string, Tally>();
  const attackers = new Set<number>();
  const run = runPath(
    scn,
    "direct",
    table,
    {},
    {
      observers: [
        tap((bus) =>
          bus.on("attack", (e) => {
            const t = tally.get(e.attack) ?? { tried: 0, blocked: 0, details: [] };
            t.tried++;
            if (e.blocked) t.blocked++;
            t.details.push(e.detail);
            tally.set(e.attack, t);
            attackers.add(e.domain);
          }),
        ),
      ],
    },
  );
  // Listeners must not throw (the bus would swallow it): check who attacked here.
  expect([...attackers]).toEqual([run.platform.hv.domainId("evil")]);
  return { metrics: run.metrics, tally, hv: run.platform.hv, broker: run.platform.broker };
}

describe("adversary", () => {
  test("per-device isolation blocks every attack, and the machine stays sound", async () => {
    const { metrics, tally, hv, broker } = await attack("per-device");
    expect(metrics.attacks).toBeGreaterThan(0);
    expect(metrics.blocked).toBe(metrics.attacks);
    expect([...tally.keys()].sort()).toEqual([...ATTACKS].sort());
    for (const [name, t] of tally) expect({ name, tried: t.tried }).toEqual({ name, tried: 10 });
    expect(invariantViolations(hv, broker)).toEqual([]);
    expect(metrics.errors).toBe(0);
  });

  test("with a shared IOTSB the rogue DMAs reach a streaming victim's pages", async () => {
    const { metrics, tally, hv, broker } = await attack("shared");
    for (const name of ["rogue-dma-write", "rogue-dma-read"]) {
      const t = tally.get(name)!;
      expect(t.tried).toBe(10);
      expect(t.blocked).toBe(0);
      expect(
        t.details.every((d) => /(wrote|read) .* the victim's page behind ldg[12] entry/.test(d)),
      ).toBe(true);
    }
    expect(metrics.blocked).toBe(metrics.attacks - 20);
    // The hypervisor's own tables stay sound: the weakness is in the IOMMU's reach, not the ABI.
    expect(invariantViolations(hv, broker)).toEqual([]);
  });

  test("hypercall, LDC and stale-DMA attacks are blocked in both modes", async () => {
    for (const isolation of ["shared", "per-device"] as const) {
      const { tally } = await attack(isolation);
      for (const name of [...HYPERCALL_ATTACKS, "ldc-forged-release", "stale-dma"]) {
        const t = tally.get(name)!;
        expect({ isolation, name, tried: t.tried, blocked: t.blocked }).toEqual({
          isolation,
          name,
          tried: 10,
          blocked: 10,
        });
      }
    }
  });

  test("with deferred unmap a stale DVMA still reaches memory", async () => {
    const { tally } = await attack("per-device", { unmap: "deferred" });
    const t = tally.get("stale-dma")!;
    expect(t.blocked).toBe(0);
    expect(t.details[0]).toMatch(/after deferred unmap: reached memory/);
  });

  test("attacks that need a victim are skipped, not counted, when there is none", async () => {
    const { tally } = await attack("shared", { victims: false });
    expect([...tally.keys()].sort()).toEqual([
      "bogus-page-list",
      "grant-self",
      "map-bogus-ra",
      "map-outside-window",
      "stale-dma",
    ]);
  });
});
