/** `bun run scenario worker --queue redis://…`: runs sweep points from a queue (see harness/queue). */

import { workerCommand } from "../harness/queue/cli.ts";
import { type CliArgsDef, parseStrict } from "./args.ts";
import type { CliIo } from "./io.ts";
import { untilSignal } from "./run.ts";

export const WORKER_ARGS = {
  queue: { type: "string", description: "redis://host:port[/db]: the sweeps' Redis (required)" },
  concurrency: {
    type: "string",
    description: "points run at once, one thread each (default: one fewer than the CPUs)",
  },
  plugin: {
    type: "string",
    repeat: true,
    description: "a plugin file this worker may run (repeatable); built-ins are always there",
  },
  "scenario-dir": {
    type: "string",
    repeat: true,
    description:
      "a directory whose scenario files this worker may run, matched by name and hash (repeatable)",
  },
} as const satisfies CliArgsDef;

export function runWorker(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseStrict(WORKER_ARGS, argv);
  return workerCommand(
    {
      queue: args.queue,
      concurrency: args.concurrency,
      plugins: args.plugin,
      scenarioDirs: args["scenario-dir"],
    },
    io,
    untilSignal(),
  );
}
