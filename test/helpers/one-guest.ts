import { type PathRun, runPath } from "../../core/harness/scenario/runner.ts";
import { type EventBus, loadScenarioPlugins, parseScenario } from "../../core/index.ts";
import { tap } from "./tap.ts";

export interface OneGuestRun {
  /** The guest's one device. */
  kind: "nic" | "nvme";
  workload: [string, object];
  /** Options of the device plugin. */
  device?: object;
  path?: string;
  strands?: number;
  /** Sees the run's bus before it boots. */
  tap?: (bus: EventBus) => void;
}

/** One guest with one device running one workload for 5 ms: the plugins' tests use this machine. */
export async function runOneGuest(o: OneGuestRun): Promise<PathRun> {
  const path = o.path ?? "direct";
  const scn = parseScenario({
    name: "one-guest",
    duration: "5ms",
    machine: {
      rootComplexes: [{ devhandle: 0x200 }],
      domains: [
        { name: "primary", role: "control", strands: 8, memoryMiB: 512 },
        { name: "ldg1", strands: o.strands ?? 8, memoryMiB: 512 },
      ],
      devices: [
        { name: "dev1", kind: o.kind, devhandle: 0x200, requesterId: 0x100, domain: "ldg1" },
      ],
    },
    devices: o.device ? { [o.kind]: [o.kind, o.device] } : {},
    paths: [path],
    workloads: [{ plugin: o.workload }],
  });
  const table = await loadScenarioPlugins(scn, process.cwd());
  return runPath(scn, path, table, {}, { observers: o.tap ? [tap(o.tap)] : [] });
}
