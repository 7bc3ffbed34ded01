/** `bun run scenario [run] [name|path]`: run a scenario, print the table, write reports. */

import type { ArgsDef } from "citty";
import type { AnyPlugin, PluginService } from "../harness/plugin/define.ts";
import { listBuiltinPlugins, loadPlugin } from "../harness/plugin/loader.ts";
import { startService } from "../harness/plugin/service.ts";
import { checkQueueFlags, runQueuedCommand } from "../harness/queue/cli.ts";
import { htmlReport } from "../harness/report/html-report.ts";
import { compareWithReference, comparisonTable } from "../harness/report/reference.ts";
import { type Report, reportCsv, reportJson } from "../harness/report/report.ts";
import { durationNs, machineOf } from "../harness/scenario/define.ts";
import {
  EXIT_PLUGIN_ERRORS,
  failureSummary,
  pluginErrorsOf,
} from "../harness/scenario/failures.ts";
import {
  applySets,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
  setKey,
} from "../harness/scenario/load.ts";
import {
  defaultWorkers,
  type RunTiming,
  runScenarioParallel,
} from "../harness/scenario/parallel.ts";
import type { RunInfo } from "../harness/scenario/run-info.ts";
import { planRuns, runScenario, runScenarioAsync } from "../harness/scenario/run-scenario.ts";
import { type ObserverRef, type PathRun, refName } from "../harness/scenario/runner.ts";
import { SeriesCollector } from "../harness/scenario/series-collector.ts";
import { TraceCollector } from "../harness/scenario/trace-collector.ts";
import { InputError } from "../input/errors.ts";
import { type CliArgsDef, flagDefs, parseStrict, type StrictArgs } from "./args.ts";
import type { CliIo } from "./io.ts";
import { checkOutputPaths, writeAtomic } from "./output.ts";
import { Progress, serialTally } from "./progress.ts";
import { pivotTable, resultsTable } from "./table.ts";
import { cpuNow, TimingTotals, threadCpuNs, timingLine } from "./timing.ts";
import { durationFlag, seedFlag } from "./values.ts";

/** The run command's own flags (plugins add theirs: see `pluginFlags`). */
export const RUN_ARGS = {
  target: {
    type: "positional",
    required: false,
    description: "scenario name (see `list`) or file; default: default",
  },
  seed: { type: "string", description: "random seed (integer)" },
  duration: { type: "string", description: 'simulated time per run, with a unit, e.g. "20ms"' },
  set: {
    type: "string",
    repeat: true,
    description: "key=value override of any scenario or cost-model field (repeatable)",
  },
  plugin: { type: "string", repeat: true, description: "load a plugin file (repeatable)" },
  json: { type: "boolean", description: "print the JSON report instead of the table" },
  csv: {
    type: "boolean",
    description: "print CSV (one row per point and path) instead of the table",
  },
  out: { type: "string", description: "also write the JSON report to this file" },
  trace: {
    type: "string",
    description:
      "write a Chrome Trace Event file (open in ui.perfetto.dev); recorded in this process, so the runs go serially",
  },
  report: {
    type: "string",
    description:
      "also write a self-contained HTML report (tables, time series, charts, DVMA map); recorded in this process, so the runs go serially",
  },
  workers: {
    type: "string",
    description:
      "runs at once in a sweep: this process's thread and N - 1 worker threads (default: one fewer than the CPUs; 1 = serial in this process); the report is the same",
  },
  quiet: { type: "boolean", description: "no table and no progress" },
  timing: {
    type: "boolean",
    description:
      "per run on stderr: wall time, simulated time, kernel events, simulated time and I/Os per wall second; then the same over the whole sweep",
  },
  queue: {
    type: "string",
    description:
      "redis://host:port[/db]: run the sweep's points as BullMQ jobs on `worker`s (the report is the same)",
  },
  provenance: {
    type: "string",
    description: "--queue: write which worker ran each point, and for how long, to this file",
  },
  "tolerate-plugin-errors": {
    type: "boolean",
    description: `exit 0 even if plugins erred (still reported; otherwise exit ${EXIT_PLUGIN_ERRORS})`,
  },
} as const satisfies CliArgsDef;

/** Plugins that declare CLI flags: the built-ins in name order, then the `--plugin` files of `argv`. */
export async function pluginsWithFlags(argv: readonly string[] = []): Promise<AnyPlugin[]> {
  const out: AnyPlugin[] = [];
  for (const info of await listBuiltinPlugins()) {
    const p = await loadPlugin(info.path, { cwd: "/" });
    if (p.cli !== undefined) out.push(p);
  }
  for (const file of pluginFiles(argv)) {
    const p = await loadPlugin(file, { cwd: process.cwd() });
    if (p.cli !== undefined && !out.includes(p)) out.push(p);
  }
  return out;
}

/** The values of `--plugin` in `argv` (read before the flags they add can be parsed). */
function pluginFiles(argv: readonly string[]): string[] {
  return argv.flatMap((tok, i) =>
    tok === "--plugin" && argv[i + 1] !== undefined
      ? [argv[i + 1]!]
      : tok.startsWith("--plugin=")
        ? [tok.slice("--plugin=".length)]
        : [],
  );
}

/** The run command's flags with every plugin's merged in. A clash is a bug of the plugin. */
export function runArgs(plugins: readonly AnyPlugin[]): CliArgsDef {
  const all: CliArgsDef = { ...RUN_ARGS };
  for (const p of plugins) {
    for (const [name, def] of Object.entries(flagDefs(p.cli!.args as ArgsDef))) {
      if (name in all) throw new Error(`plugin ${p.name}: flag --${name} is already taken`);
      all[name] = { ...def, description: `${def.description ?? ""} [${p.name}]`.trim() };
    }
  }
  return all;
}

interface Enabled {
  plugin: AnyPlugin;
  options: Record<string, unknown>;
  pace?: number;
}

export async function runCommand(
  plugins: readonly AnyPlugin[],
  argv: readonly string[],
  io: CliIo,
): Promise<number> {
  const cwd = process.cwd();
  const args = parseStrict(runArgs(plugins) as typeof RUN_ARGS, argv);
  // Everything the user typed is checked before any run starts.
  const seed = seedFlag(args.seed);
  const duration = durationFlag("duration", args.duration);
  const { out, trace: traceFile, report: html, provenance } = args;
  checkOutputPaths({ out, trace: traceFile, report: html, provenance }, cwd);
  if (args.json && args.csv)
    throw new InputError(
      "--json and --csv: stdout takes one report; give one (--out writes the JSON to a file)",
    );
  checkQueueFlags(args);
  const workers = parseWorkers(args.workers);
  const enabled = enabledPlugins(plugins, args as Record<string, unknown>, args.plugin);
  if (args.queue !== undefined && args.timing)
    throw new InputError("--timing times runs in this process; a queued sweep runs elsewhere");
  if (args.queue !== undefined) checkQueuedPlugins(enabled);
  // A flag and a --set of the same key would let one win unseen.
  for (const [flag, given] of [
    ["seed", seed],
    ["duration", duration],
  ] as const)
    if (given !== undefined && args.set.some((s) => setKey(s) === flag))
      throw new InputError(`--${flag} and --set ${flag}=…: give the ${flag} once`);
  const sets = [...args.set];
  if (seed !== undefined) sets.unshift(`seed=${seed}`);
  if (duration !== undefined) sets.unshift(`duration=${JSON.stringify(duration)}`);
  const raw = applySets(await loadScenarioFile(args.target ?? "default", cwd), sets);
  const scn = parseScenario(raw);
  const table = await loadScenarioPlugins(scn, cwd, args.plugin);
  const plan = planRuns(raw, scn);
  const trace = args.trace ? new TraceCollector() : undefined;
  const series = args.report ? new SeriesCollector() : undefined;
  const progress = !args.quiet && io.err.isTTY === true ? new Progress(io.err) : undefined;
  const started = startObservers(enabled);
  const observers = started.map((o) => o.perRun);
  const lasting = started.flatMap((o) => (o.service ? [o.service] : []));
  // A service that serves (has a URL) keeps the process up after the runs, until Ctrl-C.
  const serving = lasting.filter((s) => s.url !== undefined);
  // The trace and observers watch runs in this process.
  const inProcess = trace || series || observers.length > 0;
  const parallel = workers > 1 && plan.runs.length > 1 && !inProcess;
  const stop = new AbortController();
  const signalled = serving.length > 0 ? untilSignal().then(() => stop.abort()) : undefined;
  for (const { name, service } of started)
    if (service?.url) io.err.write(`${name}: serving on ${service.url} (Ctrl-C to stop)\n`);
  if ((trace || series) && args.workers !== undefined && workers > 1 && !args.quiet)
    io.err.write(
      `note: ${trace ? "--trace records" : "--report records"} in this process, so the runs go serially\n`,
    );
  const pace = enabled.find((e) => e.pace !== undefined)?.pace;
  const totals = args.timing ? new TimingTotals() : undefined;
  const timed = totals
    ? (t: RunTiming) => {
        totals.add(t);
        io.err.write(timingLine(t));
      }
    : undefined;
  const sweep0 = performance.now(); // host clock: --timing only, never in the report
  const cpuAt0 = cpuNow(); // host clock
  let report: Report;
  if (args.queue !== undefined) {
    const cancel = new AbortController();
    untilSignal().then(() => cancel.abort());
    const spec = { target: args.target ?? "default", cwd, sets, plugins: args.plugin };
    const runs = plan.runs.map(
      (r, index): RunInfo => ({
        scenario: scn.name,
        path: refName(r.path),
        params: r.params,
        // As the scenario names them: a path's own domains are known on the worker only.
        domainNames: machineOf(r.scenario).domains.map((d) => d.name),
        index,
        total: plan.runs.length,
      }),
    );
    const untilNs = plan.runs.map((r) => durationNs(r.scenario.duration));
    const sweep = { queue: args.queue, scenario: scn, sets, runs, untilNs };
    const queued = await runQueuedCommand(spec, args, io, {
      progress: progress ? (p) => progress.update(p) : undefined,
      signal: cancel.signal,
      followers: lasting.flatMap((s) => (s.follow ? [s.follow(sweep)] : [])),
    }).catch(async (e) => {
      for (const o of lasting) await o.stop(); // a server would keep the process up
      throw e;
    });
    report = queued.report;
    if (args.provenance)
      writeAtomic(args.provenance, `${JSON.stringify(queued.provenance, null, 2)}\n`);
  } else if (parallel) {
    const spec = { target: args.target ?? "default", cwd, sets, plugins: args.plugin };
    report = await runScenarioParallel(spec, {
      workers,
      progress: progress ? (p) => progress.update(p) : undefined,
      timed,
      loaded: { raw, scn, table },
    });
  } else {
    const runNs = plan.runs.map((r) => durationNs(r.scenario.duration));
    const tally = serialTally(runNs);
    let [wall0, cpu0] = [sweep0, cpuAt0.thread];
    const timing = (done: number, run: PathRun) => {
      const [now, cpu] = [performance.now(), threadCpuNs()]; // host clock
      const { index, total, path, params } = run.info;
      const [simNs, events, ios] = [runNs[done - 1]!, run.events, run.metrics.ios];
      const [wallNs, cpuNs] = [(now - wall0) * 1e6, cpu - cpu0];
      timed!({ index, total, path, params, simNs, events, ios, wallNs, cpuNs, thread: 0 });
      [wall0, cpu0] = [now, cpu];
    };
    const opts = {
      observers: [
        ...(trace ? [trace.plugin] : []),
        ...(series ? [series.plugin] : []),
        ...observers,
      ],
      progress:
        progress || args.timing
          ? (done: number, _: number, run: PathRun) => {
              if (args.timing) timing(done, run);
              progress?.update(tally(done, run.events));
            }
          : undefined,
    };
    if (serving.length > 0) {
      const hold = lasting.find((o) => o.hold)?.hold?.(pace !== undefined);
      report = await runScenarioAsync(raw, scn, table, {
        ...opts,
        pace,
        signal: stop.signal,
        drain: hold?.drain,
      }).finally(() => hold?.end());
    } else report = runScenario(raw, scn, table, opts);
  }
  progress?.done();
  if (totals) {
    const cpu = cpuNow(); // host clock
    io.err.write(totals.line((performance.now() - sweep0) * 1e6)); // host clock
    io.err.write(totals.cpuLine(cpu.process - cpuAt0.process, cpu.thread - cpuAt0.thread));
  }
  if (args.report) writeAtomic(args.report, htmlReport(report, scn, series?.series()));
  if (args.trace && trace) writeAtomic(args.trace, trace.serialize());
  if (args.out) writeAtomic(args.out, reportJson(report));
  if (args.json) io.out.write(reportJson(report));
  else if (args.csv) io.out.write(reportCsv(report));
  else if (!args.quiet) {
    const control = scn.machine.domains.find((d) => d.role === "control")?.name ?? "control";
    io.out.write(
      `${scn.name}: ${scn.description}\nseed ${scn.seed}, ${durationNs(scn.duration) / 1e6} ms simulated per run\n\n`,
    );
    io.out.write(resultsTable(report, control, scn.columns));
    for (const metric of scn.pivot) io.out.write(`\n${pivotTable(report, metric)}`);
    if (scn.reference.length > 0)
      io.out.write(`\n${comparisonTable(compareWithReference(scn, report))}`);
  }
  io.err.write(failureSummary(report));
  if (serving.length > 0 && !stop.signal.aborted)
    for (const { name, service } of started)
      if (service?.url)
        io.err.write(`${name}: runs done; still serving on ${service.url} until Ctrl-C\n`);
  await signalled;
  for (const o of lasting) await o.stop();
  return pluginErrorsOf(report).length > 0 && !args["tolerate-plugin-errors"]
    ? EXIT_PLUGIN_ERRORS
    : 0;
}

/**
 * With --queue the runs happen on the workers: only a plugin whose service follows a queued
 * sweep (live) may be on, and nothing can pace the workers. @throws InputError
 */
function checkQueuedPlugins(enabled: readonly Enabled[]): void {
  const blind = enabled.filter((e) => e.plugin.cli?.followsQueue !== true);
  if (blind.length > 0)
    throw new InputError(
      `--queue: ${blind.map((e) => e.plugin.name).join(", ")} watches runs in this process, and a queued sweep runs elsewhere; leave out its flags`,
    );
  const paced = enabled.find((e) => e.pace !== undefined);
  if (paced !== undefined)
    throw new InputError(
      `--queue: ${paced.plugin.name} can pace runs in this process only; the workers run as fast as they can`,
    );
}

/** The plugins whose flags turn them on, with their options. @throws InputError */
function enabledPlugins(
  plugins: readonly AnyPlugin[],
  flags: Record<string, unknown>,
  files: readonly string[],
): Enabled[] {
  const out: Enabled[] = [];
  for (const plugin of plugins) {
    const cli = plugin.cli!;
    const own = { _: [], ...pick(flags, Object.keys(cli.args)) } as never;
    const options = cli.options(own, { plugins: files }) as Record<string, unknown> | undefined;
    if (options === undefined) continue;
    if (plugin.kind !== "observer")
      throw new Error(`plugin ${plugin.name}: only observer plugins are started by their flags`);
    out.push({ plugin, options, pace: cli.pace?.(own) });
  }
  return out;
}

const pick = (o: Record<string, unknown>, keys: readonly string[]) =>
  Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));

/** An observer turned on by its flags: what each run registers, and its service if it has one. */
interface Started {
  name: string;
  perRun: ObserverRef;
  service?: PluginService;
}

/**
 * Starts each enabled observer's service (a server) once, outside any run; every run then
 * registers the plugin in its own host (with its service, if it has one, and its options).
 * @throws InputError for bad options or a refused bind
 */
function startObservers(enabled: readonly Enabled[]): Started[] {
  return enabled.map(({ plugin, options }) => {
    if (plugin.service === undefined) return { name: plugin.name, perRun: [plugin, options] };
    const { service, perRun } = startService(plugin, options);
    return { name: plugin.name, perRun, service };
  });
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const on = () => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve();
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}

/** `--workers N`: a whole number from 1 up; default one fewer than the CPUs. @throws InputError */
function parseWorkers(text: string | undefined): number {
  if (text === undefined) return defaultWorkers();
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new InputError(`--workers ${JSON.stringify(text)}: expected a whole number from 1 up`);
  return Number(text);
}

export type RunArgs = StrictArgs<typeof RUN_ARGS>;
