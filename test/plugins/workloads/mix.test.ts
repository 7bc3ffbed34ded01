import { expect, test } from "bun:test";
import { runPath } from "../../../core/harness/scenario/runner.ts";
import { loadScenarioPlugins, parseScenario } from "../../../core/index.ts";
import { tap } from "../../helpers/tap.ts";

/** Three guests with a NIC each, all running `mix` for 2 ms; ops and sizes per guest name. */
async function run(profiles: unknown, guests: "all" | string[] = "all") {
  const names = ["ldg1", "ldg2", "ldg3"];
  const scn = parseScenario({
    name: "mix-test",
    duration: "2ms",
    machine: {
      rootComplexes: [{ devhandle: 0x200 }],
      domains: [
        { name: "primary", role: "control", strands: 8, memoryMiB: 512 },
        ...names.map((name) => ({ name, strands: 4, memoryMiB: 256 })),
      ],
      devices: names.map((domain, i) => ({
        name: `nic${i + 1}`,
        kind: "nic",
        devhandle: 0x200,
        requesterId: 0x100 * (i + 1),
        domain,
      })),
    },
    workloads: [{ plugin: ["mix", { profiles }], guests }],
  });
  const table = await loadScenarioPlugins(scn, process.cwd());
  const seen = new Map<string, Set<string>>(names.map((n) => [n, new Set()]));
  const r = runPath(
    scn,
    "direct",
    table,
    {},
    {
      observers: [
        tap((bus) =>
          bus.on("io.done", (e) => seen.get(names[e.domain - 1]!)!.add(`${e.op}:${e.bytes}`)),
        ),
      ],
    },
  );
  const ops = Object.fromEntries([...seen].map(([n, s]) => [n, [...s].sort()]));
  return { metrics: r.metrics, ops };
}

const profiles = [
  { workload: "stream", options: { op: "tx", bytes: 1500, inflight: 4 } },
  { workload: "request-response", options: { requestBytes: 100, responseBytes: 200 } },
];

test("guest i (by id) runs profile i mod n", async () => {
  const { metrics, ops } = await run(profiles);
  expect(metrics.errors).toBe(0);
  expect(ops).toEqual({
    ldg1: ["tx:1500"],
    ldg2: ["rx:200", "tx:100"],
    ldg3: ["tx:1500"],
  });
  expect(metrics.extra["rtt.count"]).toBeGreaterThan(0);
});

test("a guest's profile depends on its id, not on which guests run the mix", async () => {
  const { ops } = await run(profiles, ["ldg2", "ldg3"]);
  expect(ops).toEqual({ ldg1: [], ldg2: ["rx:200", "tx:100"], ldg3: ["tx:1500"] });
});

test("each profile's options are checked by that workload's schema, with their path", async () => {
  const bad = [profiles[0], { workload: "stream", options: { op: "fly" } }];
  await expect(run(bad)).rejects.toThrow(/plugin "mix" option \/profiles\/1\/options\/op: /);
  await expect(run([{ workload: "random-io", options: { readRatio: 2 } }])).rejects.toThrow(
    /plugin "mix" option \/profiles\/0\/options\/readRatio: /,
  );
  await expect(run([{ workload: "adversary", options: {} }])).rejects.toThrow(
    /plugin "mix" option \/profiles\/0\/workload: /,
  );
  await expect(run([])).rejects.toThrow(/plugin "mix" option \/profiles: /);
});
