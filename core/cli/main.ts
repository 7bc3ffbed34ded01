/**
 * `bun run scenario`: citty subcommands (run is the default, so `bun run scenario faults` runs
 * a scenario), each parsed strictly, each with its own help. Exit codes: 0 ok, 1 a run or a
 * check failed, 2 bad input (one line, before any work), 3 runs completed with plugin errors.
 */

import { resolve } from "node:path";
import { type CommandDef, defineCommand, renderUsage, runCommand as runCitty } from "citty";
import { REPO_ROOT } from "../harness/plugin/loader.ts";
import { SweepError } from "../harness/queue/submit.ts";
import { EXIT_PLUGIN_ERRORS } from "../harness/scenario/failures.ts";
import { RunFailedError } from "../harness/scenario/run-scenario.ts";
import { describeThrown, InputError, pluginErrorIn } from "../input/errors.ts";
import { type CliArgsDef, forStream, parseStrict } from "./args.ts";
import { CHECK_POLICY_ARGS, checkPolicyCommand } from "./check-policy.ts";
import { listCommand, pluginsCommand } from "./info.ts";
import type { CliIo } from "./io.ts";
import { pluginsWithFlags, runArgs, runCommand } from "./run.ts";
import { runWorker, WORKER_ARGS } from "./worker.ts";

export type { CliIo } from "./io.ts";

// Read, not imported: the version belongs to the repository, not to a core layer.
const PACKAGE = (await Bun.file(resolve(REPO_ROOT, "package.json")).json()) as {
  name: string;
  version: string;
};

/** The CLI's commands; `io` travels in citty's `data`. */
const run = defineCommand({
  meta: { name: "run", description: "run a scenario and compare I/O paths (the default command)" },
  args: async () => runArgs(await pluginsWithFlags()),
  run: async (ctx) =>
    runCommand(await pluginsWithFlags(ctx.rawArgs), ctx.rawArgs, ctx.data as CliIo),
});

const list = defineCommand({
  meta: { name: "list", description: "list the built-in scenarios" },
  args: {},
  run: (ctx) => listCommand(ctx.data as CliIo),
});

const plugins = defineCommand({
  meta: { name: "plugins", description: "list the built-in plugins and their options" },
  args: {},
  run: (ctx) => pluginsCommand(ctx.data as CliIo),
});

const checkPolicy = defineCommand({
  meta: {
    name: "check-policy",
    description: "run the conformance kit on an allocation policy (a file or a built-in name)",
  },
  args: CHECK_POLICY_ARGS,
  run: (ctx) => checkPolicyCommand(ctx.rawArgs, ctx.data as CliIo),
});

const worker = defineCommand({
  meta: {
    name: "worker",
    description: "run sweep points from a Redis queue (`run --queue` submits them)",
  },
  args: WORKER_ARGS,
  run: (ctx) => runWorker(ctx.rawArgs, ctx.data as CliIo),
});

const HELP_ARGS = {
  command: { type: "positional", required: false, description: "the command to explain" },
} as const satisfies CliArgsDef;

const help = defineCommand({
  meta: { name: "help", description: "show the help of a command" },
  args: HELP_ARGS,
  run: async (ctx) => {
    const { command } = parseStrict(HELP_ARGS, ctx.rawArgs);
    await usage(command ?? "", ctx.data as CliIo);
    return 0;
  },
});

// biome-ignore lint/suspicious/noExplicitAny: each command has its own args (citty's SubCommandsDef).
const SUBCOMMANDS: Record<string, CommandDef<any>> = {
  run,
  list,
  plugins,
  "check-policy": checkPolicy,
  worker,
  help,
};

export const command = defineCommand({
  meta: {
    name: "scenario",
    version: PACKAGE.version,
    description:
      "Simulate how sun4v guests get DMA. `bun run scenario [name|path]` runs a scenario (default: default)",
  },
  subCommands: SUBCOMMANDS,
});

/** Writes the help of `name` (the root's when empty). @throws InputError for an unknown command */
async function usage(name: string, io: CliIo): Promise<void> {
  if (name !== "" && !(name in SUBCOMMANDS))
    throw new InputError(
      `help: no command "${name}"; commands: ${Object.keys(SUBCOMMANDS).join(", ")}`,
    );
  const text =
    name === ""
      ? await renderUsage(command)
      : await renderUsage(SUBCOMMANDS[name]! as CommandDef, command as CommandDef);
  io.out.write(`${forStream(text, io.out)}\n`);
}

/** Runs the CLI; returns the exit code (see the top of this file). */
export async function main(
  argv: readonly string[],
  io: CliIo = { out: process.stdout, err: process.stderr },
): Promise<number> {
  try {
    if (argv[0] === "--version" || argv[0] === "-v") {
      io.out.write(`${PACKAGE.name} ${PACKAGE.version}\n`);
      return 0;
    }
    const named = argv[0] !== undefined && argv[0] in SUBCOMMANDS;
    const name = named ? argv[0]! : "run";
    const rest = named ? argv.slice(1) : argv;
    if (rest.includes("--help") || rest.includes("-h")) {
      await usage(named || argv.length > 1 ? name : "", io);
      return 0;
    }
    const { result } = await runCitty(SUBCOMMANDS[name]! as CommandDef, {
      rawArgs: [...rest],
      data: io,
    });
    return result as number;
  } catch (e) {
    return failure(e, io);
  }
}

/** The exit code for what was thrown, and its one line (a stack trace only for a bug). */
function failure(e: unknown, io: CliIo): number {
  if (e instanceof InputError) {
    io.err.write(`error: ${e.message}\n`);
    return 2;
  }
  if (e instanceof SweepError) {
    io.err.write(`${e.cancelled ? "cancelled" : "sweep failed"}: ${e.message}\n`);
    return e.cancelled ? 130 : 1;
  }
  if (pluginErrorIn(e) !== undefined) {
    io.err.write(`run failed: ${describeThrown(e)}\n`);
    return EXIT_PLUGIN_ERRORS;
  }
  const cause = e instanceof RunFailedError ? e.cause : e;
  if (!(cause instanceof Error)) {
    io.err.write(`run failed: ${describeThrown(e)}\n`);
    return 1;
  }
  io.err.write(
    `run failed: ${describeThrown(e)}\n${cause.stack ?? ""}\n` +
      "This is a bug (in sun4v-dvma or a plugin): please report it with the command line that caused it.\n",
  );
  return 1;
}

if (import.meta.main) {
  // A reader that stops early (`| head`) closes the pipe: the rest of the output is unwanted,
  // which is neither a mistake nor a bug. The run still ends with its own status.
  process.stdout.on("error", (e: { code?: string }) => {
    if (e.code !== "EPIPE") throw e;
  });
  process.exitCode = await main(process.argv.slice(2));
}
