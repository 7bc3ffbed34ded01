/**
 * Event-kernel throughput: P processes each looping L times on a uniform random integer timeout
 * in [1, 1000] ns (P = L = 1000: 1M timeouts), against SimPy 3 and simjs on the same workload.
 * Repetitions are interleaved (ours, callbacks, heap floor, simjs, SimPy; then again), so a busy
 * moment of the machine hits every engine alike, and ratios are taken within each repetition.
 * Every engine counts the timeouts it completed; a count other than P x L fails the bench.
 * The floor is a bare loop over the kernel's binary heap (pop, push the next time) with no
 * processes: what scheduling alone costs. Rates are per wall second. On a shared machine the
 * scheduler's time slices dilute them unevenly, so ours per CPU-second (process.cpuUsage: user +
 * system, all threads) and the peer ratios in CPU time (SimPy's time.process_time) are printed
 * too, with the load average before and after.
 */
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { EventHeap, type Proc, Rng, Simulator } from "../../core/model/sim/index.ts";
import { header, note, row } from "./harness.ts";
import { loadSimjs } from "./peers/simjs_bench.ts";

const SEED = 42;
const SYSTEM_PYTHON = "/usr/bin/python3";
const SIMPY_HINT =
  "install with `apt-get install -y python3-simpy3` (Debian's python3-simpy is SimPy 2)";
/** The project's targets (issue 14). */
const TARGET_EVENTS = 12e6;
const TARGET_SIMPY = 8;
const TARGET_SIMJS = 2.2;

/** One engine's repetition: wall and CPU seconds taken, timeouts completed. */
interface Rep {
  seconds: number;
  cpuSeconds: number;
  timeouts: number;
}

function timed(fn: () => number): Rep {
  const c0 = process.cpuUsage(); // host clock: a benchmark
  const t0 = Bun.nanoseconds(); // host clock: a benchmark
  const timeouts = fn();
  const seconds = (Bun.nanoseconds() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, timeouts };
}

function loadAverage(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(", ");
}

function runGenerators(processes: number, loops: number): number {
  const sim = new Simulator();
  const rng = new Rng(SEED);
  let done = 0;
  function* looper(): Proc {
    for (let i = 0; i < loops; i++) yield rng.int(1, 1001);
    done += loops;
  }
  for (let i = 0; i < processes; i++) sim.spawn(looper(), "looper");
  sim.run();
  // One event starts each process, then one per timeout.
  if (sim.eventsProcessed !== processes * (loops + 1))
    throw new Error(`kernel processed ${sim.eventsProcessed} events`);
  return done;
}

function runCallbacks(processes: number, loops: number): number {
  const sim = new Simulator();
  const rng = new Rng(SEED);
  let done = 0;
  for (let i = 0; i < processes; i++) {
    let left = loops;
    const tick = (): void => {
      if (left-- > 0) sim.schedule(rng.int(1, 1001), tick);
      else done += loops;
    };
    sim.schedule(0, tick);
  }
  sim.run();
  return done;
}

/** The floor: the heap alone, P entries, each popped and pushed again L times. */
function runHeap(processes: number, loops: number): number {
  const heap = new EventHeap(1024);
  const rng = new Rng(SEED);
  const left = new Int32Array(processes).fill(loops);
  for (let i = 0; i < processes; i++) heap.push(0, i);
  let done = 0;
  while (heap.size > 0) {
    const t = heap.peekTime();
    const id = heap.pop();
    if (left[id]! > 0) {
      left[id]!--;
      done++;
      heap.push(t + rng.int(1, 1001), id);
    }
  }
  return done;
}

type Simpy = { run: () => Rep; version: string } | { skipped: string };

function simpyPeer(processes: number, loops: number): Simpy {
  if (!existsSync(SYSTEM_PYTHON)) return { skipped: `${SYSTEM_PYTHON} not found; ${SIMPY_HINT}` };
  const probe = Bun.spawnSync([SYSTEM_PYTHON, "-c", "import simpy; simpy.Environment"]);
  if (probe.exitCode !== 0)
    return { skipped: `simpy not importable by ${SYSTEM_PYTHON}; ${SIMPY_HINT}` };
  const script = join(import.meta.dir, "peers", "simpy_bench.py");
  let version = "?";
  const run = (): Rep => {
    const args = [String(processes), String(loops), String(SEED), "1"];
    const res = Bun.spawnSync([SYSTEM_PYTHON, script, ...args]);
    if (res.exitCode !== 0) throw new Error(`simpy_bench.py: ${res.stderr.toString().trim()}`);
    const out = JSON.parse(res.stdout.toString()) as {
      timeouts: number;
      seconds: number;
      cpu_seconds: number;
      simpy: string;
    };
    version = out.simpy;
    return { seconds: out.seconds, cpuSeconds: out.cpu_seconds, timeouts: out.timeouts };
  };
  return {
    run,
    get version() {
      return version;
    },
  };
}

export default async function kernelBench(opts: { quick: boolean }): Promise<void> {
  // Quick mode keeps the shape (many processes, many loops) at a quarter of the timeouts.
  const processes = opts.quick ? 500 : 1000;
  const loops = opts.quick ? 500 : 1000;
  const timeouts = processes * loops;
  const reps = opts.quick ? 3 : 7;
  header(
    `kernel: ${processes} processes x ${loops} uniform timeouts, ${reps} interleaved repetitions`,
  );
  const simjs = await loadSimjs();
  const simpy = simpyPeer(processes, loops);
  const engines: [string, () => Rep][] = [
    ["ours", () => timed(() => runGenerators(processes, loops))],
    ["callbacks", () => timed(() => runCallbacks(processes, loops))],
    ["heap", () => timed(() => runHeap(processes, loops))],
  ];
  if ("run" in simjs) engines.push(["simjs", () => timed(() => simjs.run(processes, loops, SEED))]);
  if ("run" in simpy) engines.push(["simpy", simpy.run]);

  // Untimed warm-up of the JS engines (the JIT: at the quick size ours needs two runs to reach
  // its optimised code), then the interleaved repetitions.
  const load0 = loadAverage();
  for (let w = 0; w < 2; w++) for (const [name, run] of engines) if (name !== "simpy") run();
  const rates = new Map<string, number[]>(engines.map(([n]) => [n, []]));
  const cpuRates = new Map<string, number[]>(engines.map(([n]) => [n, []]));
  for (let i = 0; i < reps; i++) {
    for (const [name, run] of engines) {
      const r = run();
      if (r.timeouts !== timeouts)
        throw new Error(`${name} completed ${r.timeouts} timeouts, not ${timeouts}`);
      rates.get(name)!.push(timeouts / r.seconds);
      cpuRates.get(name)!.push(timeouts / r.cpuSeconds);
    }
  }
  const ours = rates.get("ours")!;
  const oursCpu = cpuRates.get("ours")!;
  const ratio = (peer: string) => ours.map((x, i) => x / rates.get(peer)![i]!);
  const cpuRatio = (peer: string) => oursCpu.map((x, i) => x / cpuRates.get(peer)![i]!);
  row("ours, generator processes", ours, "events/s", TARGET_EVENTS);
  row("ours, generator processes, per CPU-second", oursCpu, "events/s");
  row("ours, one callback per process", rates.get("callbacks")!, "events/s");
  row("floor: bare binary-heap loop, no processes", rates.get("heap")!, "events/s");
  if ("run" in simjs) row("simjs 2 (npm), entity timers", rates.get("simjs")!, "events/s");
  else note("simjs", `skipped (${simjs.skipped})`);
  if ("run" in simpy)
    row(`SimPy ${simpy.version} (${SYSTEM_PYTHON})`, rates.get("simpy")!, "events/s");
  else note("SimPy 3", `skipped (${simpy.skipped})`);
  if ("run" in simpy) row("ours / SimPy 3, per repetition", ratio("simpy"), "x", TARGET_SIMPY);
  if ("run" in simjs) row("ours / simjs, per repetition", ratio("simjs"), "x", TARGET_SIMJS);
  row("ours / heap floor, per repetition", ratio("heap"), "x");
  if ("run" in simpy) row("ours / SimPy 3, per repetition, CPU time", cpuRatio("simpy"), "x");
  if ("run" in simjs) row("ours / simjs, per repetition, CPU time", cpuRatio("simjs"), "x");
  note("load average (1, 5, 15 min)", `${load0} before; ${loadAverage()} after`);
}
