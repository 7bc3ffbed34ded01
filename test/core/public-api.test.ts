/**
 * core/index.ts is the public API: exactly these names, each with a doc comment, and plugins
 * and scenarios import the core through it alone.
 */
import { describe, expect, test } from "bun:test";
import { dirname, relative, resolve } from "node:path";
import * as api from "../../core/index.ts";

const ROOT = resolve(import.meta.dir, "../..");

/** Every name core/index.ts exports (types included), sorted. */
const PUBLIC_API = [
  "ANY_VCPU",
  "Completion",
  "CoreHooks",
  "DATA_CORRUPT",
  "DMA_FAULT_NAMES",
  "DeviceEnv",
  "DeviceModel",
  "DomainCpu",
  "DurationSchema",
  "EVENT_TYPES",
  "EventBus",
  "FN",
  "GlobalPolicy",
  "GlobalPolicyContext",
  "GuestDmaApi",
  "GuestIo",
  "GuestMemory",
  "HV",
  "Histogram",
  "Hypervisor",
  "IO_ATTR_READ",
  "IO_ATTR_WRITE",
  "InputError",
  "IoOp",
  "IoPath",
  "IoRequest",
  "IoResult",
  "Iommu",
  "LDC_PACKET_SIZE",
  "LdcChannel",
  "LocalPolicy",
  "LocalPolicyContext",
  "LockKind",
  "Msg",
  "ObserverRef",
  "PAGE_SIZE",
  "PathEnv",
  "PathMetrics",
  "PathPlan",
  "Platform",
  "Plugin",
  "PluginCli",
  "PluginContext",
  "PluginError",
  "PluginKind",
  "PluginService",
  "PolicyMeter",
  "PolicyStats",
  "Proc",
  "QueuedSweep",
  "RA_BASE",
  "Refusal",
  "Report",
  "Resource",
  "RunContext",
  "RunInfo",
  "Scenario",
  "Signal",
  "SimEvent",
  "Simulator",
  "StartedService",
  "Static",
  "SweepFollower",
  "TSchema",
  "TimedSignal",
  "TraceCollector",
  "Type",
  "Workload",
  "WorkloadEnv",
  "applySets",
  "definePlugin",
  "definePluginCli",
  "defineScenario",
  "describeThrown",
  "durationNs",
  "encode",
  "formatConformance",
  "guestMachine",
  "htmlReport",
  "hypercall",
  "intoMemory",
  "isDmaFailure",
  "isRefusal",
  "listBuiltinPlugins",
  "listScenarios",
  "loadPlugin",
  "loadScenarioFile",
  "loadScenarioPlugins",
  "message",
  "pagesSpanned",
  "parseScenario",
  "parseWithSchema",
  "planRuns",
  "pluginUses",
  "reportCsv",
  "reportJson",
  "round",
  "runConformance",
  "runLengths",
  "runScenario",
  "runScenarioAsync",
  "schemaProblems",
  "startService",
  "statusName",
  "tsbid",
];

/** The names of core/index.ts's export lists, each with whether a doc comment precedes it. */
function exportedNames(source: string): { name: string; documented: boolean }[] {
  const out: { name: string; documented: boolean }[] = [];
  for (const block of source.matchAll(/^export (?:type )?\{([\s\S]*?)\} from "[^"]+";$/gm)) {
    const lines = block[1]!.split("\n").map((l) => l.trim());
    lines.forEach((line, i) => {
      const m = /^(?:type\s+)?([A-Za-z_$][\w$]*),?$/.exec(line);
      if (m) out.push({ name: m[1]!, documented: /^\/\*\*.*\*\/$/.test(lines[i - 1] ?? "") });
    });
  }
  return out;
}

describe("public API", () => {
  test("core/index.ts exports exactly the listed names, only through documented export lists", async () => {
    const source = await Bun.file(resolve(ROOT, "core/index.ts")).text();
    expect(source).not.toMatch(/^export \*/m);
    expect(source).not.toMatch(/^export (?:const|function|class|let|interface|type \w+ =)/m);
    const names = exportedNames(source);
    const sorted = names.map((n) => n.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(sorted).toEqual(PUBLIC_API);
    expect(names.filter((n) => !n.documented).map((n) => n.name)).toEqual([]);
    // What exists at run time is a subset of the list (the rest are types).
    for (const key of Object.keys(api)) expect(PUBLIC_API).toContain(key);
  });

  test("plugins and scenarios import the core only through core/index.ts", async () => {
    const bad: string[] = [];
    for (const pattern of ["plugins/**/*.{ts,tsx}", "scenarios/**/*.ts"]) {
      for await (const f of new Bun.Glob(pattern).scan({ cwd: ROOT })) {
        const src = await Bun.file(resolve(ROOT, f)).text();
        for (const m of src.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)"(\.[^"]+)"/g)) {
          const target = relative(ROOT, resolve(ROOT, dirname(f), m[1]!));
          if (target.startsWith("core/") && target !== "core/index.ts")
            bad.push(`${f} imports ${target}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});
