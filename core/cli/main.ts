import { defineCommand, renderUsage } from "citty";
import type { AnyPlugin } from "../harness/plugin/define.ts";
import { type CoreHooks, Hooks } from "../harness/plugin/hooks.ts";
import { PluginHost } from "../harness/plugin/host.ts";
import { listBuiltinPlugins, loadPlugin } from "../harness/plugin/loader.ts";
import { formatConformance, runConformance } from "../harness/policy-kit/conformance.ts";
import { htmlReport } from "../harness/report/html-report.ts";
import { compareWithReference, comparisonTable } from "../harness/report/reference.ts";
import { type Report, reportCsv, reportJson } from "../harness/report/report.ts";
import { durationNs } from "../harness/scenario/define.ts";
import {
  EXIT_PLUGIN_ERRORS,
  failureSummary,
  pluginErrorsOf,
} from "../harness/scenario/failures.ts";
import {
  applySets,
  listScenarios,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
} from "../harness/scenario/load.ts";
import {
  defaultWorkers,
  RunFailedError,
  runScenarioParallel,
} from "../harness/scenario/parallel.ts";
import { planRuns, runScenario, runScenarioAsync } from "../harness/scenario/run-scenario.ts";
import { TraceCollector } from "../harness/scenario/trace-collector.ts";
import { describeThrown, InputError, PluginError } from "../input/errors.ts";
import { EventBus } from "../model/events/bus.ts";
import { RngStreams } from "../model/sim/rng.ts";
import { Progress, serialTally } from "./progress.ts";
import { resultsTable } from "./table.ts";

/** `bun run scenario [name|path] [flags]`, `bun run scenario list`, `bun run scenario plugins`. */
export const command = defineCommand({
  meta: {
    name: "scenario",
    description: "Run a sun4v DVMA scenario and compare I/O paths (default scenario: default)",
  },
  args: {
    target: {
      type: "positional",
      required: false,
      description: "scenario name or file, or: list, plugins, check-policy <file>",
    },
    seed: { type: "string", description: "random seed (integer)" },
    duration: { type: "string", description: 'simulated time per run, e.g. "20ms"' },
    set: {
      type: "string",
      description: "key=value override of any scenario or cost-model field (repeatable)",
    },
    plugin: { type: "string", description: "load a plugin file (repeatable)" },
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
      description: "also write a self-contained HTML report (tables, SVG charts, DVMA map)",
    },
    workers: {
      type: "string",
      description:
        "worker threads sharing a sweep's runs (default: one fewer than the CPUs; 1 = serial in this process); the report is the same",
    },
    quiet: { type: "boolean", description: "no table and no progress" },
    "tolerate-plugin-errors": {
      type: "boolean",
      description: `exit 0 even if plugins erred (still reported; otherwise exit ${EXIT_PLUGIN_ERRORS})`,
    },
    serve: {
      type: "boolean",
      description: "serve the live feed and dashboard (plugin live) during the run, until Ctrl-C",
    },
    port: { type: "string", description: "--serve: TCP port (default 8787; 0 = any free port)" },
    host: {
      type: "string",
      description: "--serve: address to bind (default 127.0.0.1; others need --token)",
    },
    pace: {
      type: "string",
      description:
        "--serve: simulated time at this many times wall time (default: as fast as possible)",
    },
    token: { type: "string", description: "--serve: required of clients (Bearer or ?token=)" },
  },
});

export interface CliArgs {
  target?: string;
  /** A second positional (the file of `check-policy`). */
  arg?: string;
  seed?: string;
  duration?: string;
  sets: string[];
  plugins: string[];
  json: boolean;
  csv: boolean;
  out?: string;
  trace?: string;
  report?: string;
  workers?: string;
  quiet: boolean;
  /** --tolerate-plugin-errors */
  tolerate?: boolean;
  serve?: boolean;
  port?: string;
  host?: string;
  pace?: string;
  token?: string;
}

/** Parses argv strictly: unknown flags and missing values are input errors (citty ignores them). */
export function parseCli(argv: readonly string[]): CliArgs {
  const known = command.args as Record<string, { type: string }>;
  const a: CliArgs = { sets: [], plugins: [], json: false, csv: false, quiet: false };
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (!tok.startsWith("--")) {
      positionals.push(tok);
      continue;
    }
    const eq = tok.indexOf("=");
    const name = tok.slice(2, eq < 0 ? undefined : eq);
    const spec = known[name];
    if (spec === undefined || spec.type === "positional") {
      const flags = Object.keys(known).filter((k) => known[k]!.type !== "positional");
      throw new InputError(
        `unknown flag --${name}; allowed: ${flags.map((f) => `--${f}`).join(", ")}`,
      );
    }
    if (spec.type === "boolean") {
      (a as unknown as Record<string, unknown>)[
        name === "tolerate-plugin-errors" ? "tolerate" : name
      ] = true;
      continue;
    }
    const value = eq >= 0 ? tok.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith("--")))
      throw new InputError(`flag --${name} needs a value`);
    if (name === "set") a.sets.push(value);
    else if (name === "plugin") a.plugins.push(value);
    else (a as unknown as Record<string, unknown>)[name] = value;
  }
  if (positionals.length > 2) throw new InputError(`too many arguments: ${positionals.join(" ")}`);
  a.target = positionals[0];
  a.arg = positionals[1];
  return a;
}

/** Where the CLI writes: stdout and stderr, or captures in tests. */
export interface CliIo {
  out: { write(s: string): unknown };
  err: { write(s: string): unknown; isTTY?: boolean };
}

/** Runs the CLI; returns the exit code (0 ok, 1 run failed, 2 bad input, 3 completed with plugin errors). */
export async function main(
  argv: readonly string[],
  io: CliIo = { out: process.stdout, err: process.stderr },
): Promise<number> {
  try {
    if (argv.includes("--help") || argv.includes("-h")) {
      io.out.write(`${await renderUsage(command)}\n`);
      return 0;
    }
    const args = parseCli(argv);
    if (args.target === "list") {
      for (const name of await listScenarios()) {
        const raw = (await loadScenarioFile(name, process.cwd())) as { description?: string };
        io.out.write(`${name.padEnd(14)} ${raw.description ?? ""}\n`);
      }
      return 0;
    }
    if (args.target === "plugins") {
      for (const p of await listBuiltinPlugins())
        io.out.write(`${p.kind.padEnd(14)} ${p.name.padEnd(20)} ${p.description}\n`);
      return 0;
    }
    if (args.target === "check-policy") return await checkPolicy(args, io);
    return await runCommand(args, io);
  } catch (e) {
    if (e instanceof InputError) {
      io.err.write(`error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof PluginError || e instanceof RunFailedError) {
      io.err.write(`run failed: ${e.message}\n`);
      return 1;
    }
    io.err.write(
      `run failed: ${describeThrown(e)}\n${e instanceof Error && e.stack ? `${e.stack}\n` : ""}`,
    );
    return 1;
  }
}

/** `bun run scenario check-policy ./my-policy.ts`: the conformance kit on a user's policy. */
async function checkPolicy(args: CliArgs, io: CliIo): Promise<number> {
  if (args.arg === undefined) {
    throw new InputError(
      "check-policy needs a policy: bun run scenario check-policy ./my-policy.ts (or a built-in name)",
    );
  }
  const plugin = await loadPlugin(args.arg, { cwd: process.cwd() });
  if (plugin.kind !== "policy.global" && plugin.kind !== "policy.local") {
    throw new InputError(
      `"${args.arg}" is a ${plugin.kind} plugin; check-policy checks policy.global and policy.local plugins`,
    );
  }
  const seed = args.seed === undefined ? undefined : Number(args.seed);
  if (seed !== undefined && !Number.isSafeInteger(seed))
    throw new InputError(`--seed ${args.seed}: expected an integer`);
  const report = runConformance(plugin, { seed });
  io.out.write(`${formatConformance(report)}\n`);
  return report.passed ? 0 : 1;
}

async function runCommand(args: CliArgs, io: CliIo): Promise<number> {
  const cwd = process.cwd();
  if (args.arg !== undefined)
    throw new InputError(`unexpected argument "${args.arg}" after the scenario name`);
  const sets = [...args.sets];
  if (args.seed !== undefined) sets.unshift(`seed=${args.seed}`);
  if (args.duration !== undefined) sets.unshift(`duration=${JSON.stringify(args.duration)}`);
  const raw = applySets(await loadScenarioFile(args.target ?? "default", cwd), sets);
  const scn = parseScenario(raw);
  const table = await loadScenarioPlugins(scn, cwd, args.plugins);
  const serve = serveFlags(args);
  const workers = parseWorkers(args.workers);
  const plan = planRuns(raw, scn);
  const trace = args.trace ? new TraceCollector() : undefined;
  const showProgress = !args.quiet && io.err.isTTY === true;
  const progress = showProgress ? new Progress(io.err) : undefined;
  // The live feed, like the trace, observes runs in this process.
  const parallel = workers > 1 && plan.runs.length > 1 && trace === undefined && !args.serve;
  // Runs over HTTP may name the plugin files given here (by their registered names).
  const live = args.serve
    ? await startLive({ ...serve.options, plugins: args.plugins }, scn.seed)
    : undefined;
  const stop = new AbortController();
  const signalled = live ? untilSignal().then(() => stop.abort()) : undefined;
  if (live) io.err.write(`live: serving on ${live.url} (Ctrl-C to stop)\n`);
  if (trace && args.workers !== undefined && workers > 1 && !args.quiet)
    io.err.write("note: --trace records in this process, so the runs go serially\n");
  let report: Report;
  if (parallel) {
    const spec = { target: args.target ?? "default", cwd, sets, plugins: args.plugins };
    report = await runScenarioParallel(spec, {
      workers,
      progress: progress ? (p) => progress.update(p) : undefined,
    });
  } else {
    const tally = serialTally(plan.runs.map((r) => durationNs(r.scenario.duration)));
    const opts = {
      observers: [...(trace ? [trace.plugin] : []), ...(live ? [live.observer] : [])],
      progress: progress
        ? (done: number, _: number, run: { events: number }) =>
            progress.update(tally(done, run.events))
        : undefined,
    };
    if (live) {
      const hold = live.hold(serve.pace !== undefined);
      report = await runScenarioAsync(raw, scn, table, {
        ...opts,
        pace: serve.pace,
        signal: stop.signal,
        drain: hold.drain,
      }).finally(hold.end);
    } else report = runScenario(raw, scn, table, opts);
  }
  progress?.done();
  if (args.report) await Bun.write(args.report, htmlReport(report, scn));
  if (args.trace && trace) await Bun.write(args.trace, trace.serialize());
  if (args.out) await Bun.write(args.out, reportJson(report));
  if (args.json) io.out.write(reportJson(report));
  else if (args.csv) io.out.write(reportCsv(report));
  else if (!args.quiet) {
    const md = scn.machine;
    const control = md.domains.find((d) => d.role === "control")?.name ?? "control";
    io.out.write(
      `${scn.name}: ${scn.description}\nseed ${scn.seed}, ${durationNs(scn.duration) / 1e6} ms simulated per run\n\n`,
    );
    io.out.write(resultsTable(report, control, scn.columns));
    if (scn.reference.length > 0)
      io.out.write(`\n${comparisonTable(compareWithReference(scn, report))}`);
  }
  io.err.write(failureSummary(report));
  if (live) {
    if (!stop.signal.aborted)
      io.err.write(`live: runs done; still serving on ${live.url} until Ctrl-C\n`);
    await signalled;
    await live.stop();
  }
  return pluginErrorsOf(report).length > 0 && !args.tolerate ? EXIT_PLUGIN_ERRORS : 0;
}

/** What the live plugin provides (its type lives in plugins/, which core does not import). */
interface LiveServer {
  readonly url: string;
  /** The observer each run registers in its own host. */
  readonly observer: AnyPlugin;
  /** Back-pressure from lossless clients: `drain` between slices, `end` after the run. */
  hold(paced: boolean): { drain: () => Promise<void> | undefined; end: () => void };
  stop(): Promise<void>;
}

/** Checks --port/--host/--pace/--token (only with --serve). @throws InputError */
function serveFlags(args: CliArgs): { options: Record<string, unknown>; pace?: number } {
  if (!args.serve) {
    const stray = (["port", "host", "pace", "token"] as const).find((k) => args[k] !== undefined);
    if (stray) throw new InputError(`--${stray} only applies with --serve`);
    return { options: {} };
  }
  const options: Record<string, unknown> = {};
  if (args.port !== undefined) {
    if (!/^\d{1,5}$/.test(args.port) || Number(args.port) > 65535)
      throw new InputError(
        `--port ${JSON.stringify(args.port)}: expected a whole number from 0 to 65535 (0 = any free port)`,
      );
    options.port = Number(args.port);
  }
  if (args.host !== undefined) options.host = args.host;
  if (args.token !== undefined) options.token = args.token;
  const pace = args.pace === undefined ? undefined : Number(args.pace);
  if (pace !== undefined && !(Number.isFinite(pace) && pace > 0))
    throw new InputError(
      `--pace ${JSON.stringify(args.pace)}: expected a number > 0 (simulated time per wall time, e.g. 0.001)`,
    );
  return { options, pace };
}

/** Loads the live plugin by name and starts it. @throws InputError for bad options or an unsafe bind */
async function startLive(options: Record<string, unknown>, seed: number): Promise<LiveServer> {
  const plugin = await loadPlugin("live", { cwd: process.cwd() });
  const rng = new RngStreams(seed);
  const host = new PluginHost({
    hooks: new Hooks<CoreHooks>(),
    bus: new EventBus(() => 0),
    rng: (s) => rng.stream(s),
  });
  try {
    return host.use(plugin as never, options) as unknown as LiveServer;
  } catch (e) {
    // The host wraps what setup throws; a refused bind is still the user's input.
    if (e instanceof PluginError && e.cause instanceof InputError) throw e.cause;
    throw e;
  }
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<void> {
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
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new InputError(`--workers ${JSON.stringify(text)}: expected a whole number from 1 up`);
  return n;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
