/**
 * The headline figure: simulated time per wall second. One 10 GbE NIC at line rate (1500-byte
 * frames, 16 in flight, one guest) on the direct path, with kernel events per frame on the direct
 * and service-domain paths; then every built-in scenario (all its points and paths, serially in
 * this process, boot and finish included) at its default seed. Durations are capped (10 ms, 200 us
 * with --quick) so the whole table stays affordable; the label says the duration used.
 */

import {
  applySets,
  durationNs,
  listScenarios,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
  runScenario,
} from "../../core/index.ts";
import { header, row } from "./harness.ts";

const NIC_MACHINE = {
  rootComplexes: [{ devhandle: 0x200 }],
  domains: [
    { name: "primary", role: "control", strands: 8, memoryMiB: 512 },
    { name: "ldg1", strands: 8, memoryMiB: 512 },
  ],
  devices: [{ name: "nic1", kind: "nic", devhandle: 0x200, requesterId: 0x100, domain: "ldg1" }],
};

/** Targets (issue 14): 1 simulated s of one 10 GbE NIC in <= 0.5 s wall; events per frame. */
const TARGET_NIC_SPEED = 2;
const TARGET_EVENTS = { direct: 8, "service-domain": 12 } as const;

/** One serial run of `raw`: wall seconds, simulated seconds, kernel events, I/Os. */
async function timedRun(raw: unknown) {
  const scn = parseScenario(raw);
  const table = await loadScenarioPlugins(scn, process.cwd());
  let events = 0;
  let ios = 0;
  let runs = 0;
  const t0 = Bun.nanoseconds(); // host clock: a benchmark
  runScenario(raw, scn, table, {
    progress: (_done, _total, run) => {
      events += run.events;
      ios += run.metrics.ios;
      runs++;
    },
  });
  const wallS = (Bun.nanoseconds() - t0) / 1e9; // host clock
  return { wallS, simS: (runs * durationNs(scn.duration)) / 1e9, events, ios };
}

function nicScenario(path: string, duration: string, op: "tx" | "rx" = "tx"): unknown {
  return {
    name: "nic-10g",
    duration,
    machine: NIC_MACHINE,
    paths: [path],
    workloads: [{ plugin: ["stream", { op, bytes: 1500, inflight: 16 }] }],
  };
}

/** Kernel events per frame in steady state of a `path` stream (see below). */
async function steadyEvents(path: string, op: "tx" | "rx"): Promise<number> {
  // Boot and the frames still in flight at the end add to a run's events but are not per-frame
  // work: the difference between a run and one half as long is the steady state's cost (the
  // frames in flight at either end still move it by about 0.003 at 2 ms, 0.0005 at 20 ms).
  const half = await timedRun(nicScenario(path, "10ms", op));
  const full = await timedRun(nicScenario(path, "20ms", op));
  return (full.events - half.events) / (full.ios - half.ios);
}

export default async function scenariosBench({ quick }: { quick: boolean }): Promise<void> {
  const nicDuration = quick ? "2ms" : "20ms";
  const reps = quick ? 1 : 3;
  header(`one 10 GbE NIC, 1500 B frames, 16 in flight, ${nicDuration} simulated, ${reps} run(s)`);
  await timedRun(nicScenario("direct", "100us")); // warm-up
  const speed: number[] = [];
  const perFrame: Record<string, number> = {};
  const steady: Record<string, number> = {};
  for (const path of ["direct", "service-domain"] as const)
    steady[path] = await steadyEvents(path, "tx");
  const steadyRx = await steadyEvents("direct", "rx");
  for (let i = 0; i < reps; i++) {
    for (const path of ["direct", "service-domain"] as const) {
      const r = await timedRun(nicScenario(path, nicDuration));
      if (path === "direct") speed.push(r.simS / r.wallS);
      perFrame[path] = r.events / r.ios; // the same every repetition: the model is deterministic
    }
  }
  row("direct: simulated s per wall s", speed, "x", TARGET_NIC_SPEED);
  for (const path of ["direct", "service-domain"] as const) {
    row(`${path}: kernel events per frame, steady state`, steady[path]!, "events", {
      max: TARGET_EVENTS[path],
    });
    row(`${path}: kernel events per frame, boot included`, perFrame[path]!, "events");
  }
  row("direct, receiving: kernel events per frame, steady state", steadyRx, "events", {
    max: TARGET_EVENTS.direct,
  });

  const cap = quick ? "200us" : "10ms";
  header(`built-in scenarios, default seed, every point and path, at most ${cap} simulated each`);
  for (const name of await listScenarios()) {
    const file = await loadScenarioFile(name, process.cwd());
    const dur = parseScenario(file).duration;
    const capped = durationNs(dur) > durationNs(cap) ? cap : dur;
    const r = await timedRun(applySets(file, [`duration=${JSON.stringify(capped)}`]));
    row(`${name} (${capped}): simulated s per wall s`, r.simS / r.wallS, "x");
    row(`${name} (${capped}): simulated I/Os per wall s`, r.ios / r.wallS, "I/Os/s");
  }
}
