import { type PathRun, runPath } from "../../../core/harness/scenario/runner.ts";
import { loadScenarioPlugins, parseScenario } from "../../../core/index.ts";

/** One guest holding the whole window as one lease, one NIC, `workload` under `policy`. */
export async function runAllocWorkload(
  workload: [string, object],
  policy: unknown = "iova-rbtree",
  strands = 4,
  duration = "5ms",
): Promise<PathRun> {
  const scn = parseScenario({
    name: "alloc-run",
    duration,
    machine: {
      rootComplexes: [{ devhandle: 0x200 }],
      domains: [
        { name: "primary", role: "control", strands: 8, memoryMiB: 512 },
        { name: "ldg1", strands, memoryMiB: 512 },
      ],
      devices: [
        { name: "nic1", kind: "nic", devhandle: 0x200, requesterId: 0x100, domain: "ldg1" },
      ],
    },
    policies: { local: policy },
    guestDma: { leasePages: 262144 },
    paths: ["direct"],
    workloads: [{ plugin: workload }],
  });
  const table = await loadScenarioPlugins(scn, process.cwd());
  return runPath(scn, "direct", table, {}, {});
}
