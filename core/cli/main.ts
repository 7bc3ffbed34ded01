import { defineCommand, renderUsage } from "citty";
import { describeThrown, InputError, PluginError } from "../plugin/errors.ts";
import { listBuiltinPlugins } from "../plugin/loader.ts";
import { durationNs } from "../scenario/define.ts";
import { htmlReport } from "../scenario/html-report.ts";
import {
  applySets,
  listScenarios,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
} from "../scenario/load.ts";
import { defaultWorkers, RunFailedError, runScenarioParallel } from "../scenario/parallel.ts";
import { compareWithReference, comparisonTable } from "../scenario/reference.ts";
import { type Report, reportCsv, reportJson } from "../scenario/report.ts";
import { planRuns, runScenario } from "../scenario/run-scenario.ts";
import { TraceCollector } from "../scenario/trace-collector.ts";
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
      description: "scenario name or file, or: list, plugins",
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
        "worker threads sharing a sweep's runs (default: one per CPU; 1 = serial in this process); the report is the same",
    },
    quiet: { type: "boolean", description: "no table and no progress" },
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
      (a as unknown as Record<string, unknown>)[name] = true;
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

/** Runs the CLI; returns the exit code (0 ok, 1 run failed, 2 bad input). */
/** Where the CLI writes: stdout and stderr, or captures in tests. */
export interface CliIo {
  out: { write(s: string): unknown };
  err: { write(s: string): unknown; isTTY?: boolean };
}

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
  const workers = parseWorkers(args.workers);
  const plan = planRuns(raw, scn);
  const trace = args.trace ? new TraceCollector() : undefined;
  const showProgress = !args.quiet && io.err.isTTY === true;
  const progress = showProgress ? new Progress(io.err) : undefined;
  const parallel = workers > 1 && plan.runs.length > 1 && trace === undefined;
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
    report = runScenario(raw, scn, table, {
      observers: trace ? [trace] : [],
      progress: progress ? (done, _, run) => progress.update(tally(done, run.events)) : undefined,
    });
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
  const failed = report.points.some((p) =>
    Object.values(p.paths).some((m) => m.ios === 0 && m.attacks === 0),
  );
  if (failed) io.err.write("warning: a run completed no I/O\n");
  return 0;
}

/** `--workers N`: a whole number from 1 up; default one per CPU. @throws InputError */
function parseWorkers(text: string | undefined): number {
  if (text === undefined) return defaultWorkers();
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new InputError(`--workers ${JSON.stringify(text)}: expected a whole number from 1 up`);
  return n;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
