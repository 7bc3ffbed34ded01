/**
 * Event-kernel throughput: P processes each looping L times on a uniform random integer timeout in
 * [1, 1000] ns (P = L = 1000: 1M events), median of 3, against SimPy 3 and simjs on the same workload.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Proc, Rng, Simulator } from "../../core/model/sim/index.ts";
import { header, measure, note, row } from "./harness.ts";
import { loadSimjs } from "./peers/simjs_bench.ts";

const SEED = 42;
const SYSTEM_PYTHON = "/usr/bin/python3";
const SIMPY_HINT =
  "install with `apt-get install -y python3-simpy3` (Debian's python3-simpy is SimPy 2)";

function* looper(rng: Rng, loops: number): Proc {
  for (let i = 0; i < loops; i++) yield rng.int(1, 1001);
}

function runGenerators(processes: number, loops: number): number {
  const sim = new Simulator();
  const rng = new Rng(SEED);
  for (let i = 0; i < processes; i++) sim.spawn(looper(rng, loops), "looper");
  sim.run();
  return sim.eventsProcessed;
}

function runCallbacks(processes: number, loops: number): number {
  const sim = new Simulator();
  const rng = new Rng(SEED);
  for (let i = 0; i < processes; i++) {
    let left = loops;
    const tick = (): void => {
      if (left-- > 0) sim.schedule(rng.int(1, 1001), tick);
    };
    sim.schedule(0, tick);
  }
  sim.run();
  return sim.eventsProcessed;
}

type PeerResult = { rate: number; version: string } | { skipped: string };

function runSimpy(processes: number, loops: number, repeat: number): PeerResult {
  if (!existsSync(SYSTEM_PYTHON)) return { skipped: `${SYSTEM_PYTHON} not found; ${SIMPY_HINT}` };
  const probe = Bun.spawnSync([SYSTEM_PYTHON, "-c", "import simpy; simpy.Environment"]);
  if (probe.exitCode !== 0) {
    return { skipped: `simpy not importable by ${SYSTEM_PYTHON}; ${SIMPY_HINT}` };
  }
  const script = join(import.meta.dir, "peers", "simpy_bench.py");
  const args = [String(processes), String(loops), String(SEED), String(repeat)];
  const res = Bun.spawnSync([SYSTEM_PYTHON, script, ...args]);
  if (res.exitCode !== 0) {
    return { skipped: `simpy_bench.py failed: ${res.stderr.toString().trim()}` };
  }
  const out = JSON.parse(res.stdout.toString()) as {
    events: number;
    median_s: number;
    simpy: string;
  };
  return { rate: out.events / out.median_s, version: out.simpy };
}

export default async function kernelBench(opts: { quick: boolean }): Promise<void> {
  // Quick mode keeps the shape (many processes, many loops) at a quarter of the events.
  const processes = opts.quick ? 500 : 1000;
  const loops = opts.quick ? 500 : 1000;
  const events = processes * loops; // nominal: one timeout per loop, the same count for every engine
  const repeat = 3;
  const warmup = opts.quick ? 2 : 1; // short runs need more warm-up before the JIT settles
  header(`kernel: ${processes} processes x ${loops} uniform timeouts, median of ${repeat}`);

  // Each JS engine gets untimed warm-up runs so the JIT has settled before timing.
  const genRate =
    events / measure("generators", () => runGenerators(processes, loops), { repeat, warmup });
  row("ours, generator processes", genRate, "events/s", 10e6);
  const cbRate =
    events / measure("callbacks", () => runCallbacks(processes, loops), { repeat, warmup });
  row("ours, one callback per process", cbRate, "events/s");

  const simpy = runSimpy(processes, loops, repeat);
  if ("rate" in simpy) row(`SimPy ${simpy.version} (${SYSTEM_PYTHON})`, simpy.rate, "events/s");
  else note("SimPy 3", `skipped (${simpy.skipped})`);

  const simjs = await loadSimjs();
  let simjsRate: number | undefined;
  if ("run" in simjs) {
    simjsRate =
      events / measure("simjs", () => simjs.run(processes, loops, SEED), { repeat, warmup });
    row("simjs (npm)", simjsRate, "events/s");
  } else {
    note("simjs", `skipped (${simjs.skipped})`);
  }

  if ("rate" in simpy) row("ratio ours(generators) / SimPy 3", genRate / simpy.rate, "x", 7);
  if (simjsRate !== undefined) row("ratio ours(generators) / simjs", genRate / simjsRate, "x", 2);
}
