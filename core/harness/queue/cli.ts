import { describeThrown, InputError } from "../../input/errors.ts";
import type { SweepFollower } from "../plugin/define.ts";
import type { Report } from "../report/report.ts";
import { defaultWorkers, type SweepProgress } from "../scenario/parallel.ts";
import type { ScenarioSpec } from "../scenario/spec.ts";
import { parseQueueUrl } from "./redis-url.ts";
import { type Provenance, runScenarioQueued, SweepError } from "./submit.ts";
import { runQueueWorker } from "./worker.ts";

/** The command-line flags the queue reads (the rest belong to the scenario command). */
export interface QueueFlags {
  queue?: string;
  provenance?: string;
}

interface Io {
  err: { write(s: string): unknown };
}

/** Refuses the queue's flags where they do not apply. @throws InputError */
export function checkQueueFlags(args: QueueFlags & { workers?: string; trace?: string }): void {
  if (args.queue === undefined) {
    if (args.provenance !== undefined)
      throw new InputError("--provenance only applies with --queue");
    return;
  }
  if (args.workers !== undefined)
    throw new InputError(
      "--workers runs a sweep on this machine; with --queue, start workers with `bun run scenario worker --queue …`",
    );
  if (args.trace !== undefined)
    throw new InputError("--trace records runs in this process; it does not apply with --queue");
}

/**
 * `bun run scenario <name> --queue redis://…`: the sweep's runs go to the queue's workers; the
 * report is the local run's, returned with its provenance (who ran what, for how long), which
 * the caller writes to its own file.
 * `followers` (a live server's, with --serve) hear each run's progress and result as they come.
 */
export async function runQueuedCommand(
  spec: ScenarioSpec,
  args: QueueFlags,
  io: Io,
  opts: {
    progress?: (p: SweepProgress) => void;
    signal: AbortSignal;
    followers?: readonly SweepFollower[];
  },
): Promise<{ report: Report; provenance: Provenance }> {
  const queue = parseQueueUrl(args.queue!);
  const followers = opts.followers ?? [];
  try {
    const { report, provenance } = await runScenarioQueued(spec, {
      queue,
      progress: opts.progress,
      signal: opts.signal,
      log: (line) => io.err.write(`${line}\n`),
      ...(followers.length === 0
        ? {}
        : {
            onStart: (sweep) => {
              for (const f of followers) f.started(sweep);
            },
            onPointProgress: (i, p) => {
              for (const f of followers) f.progress(i, p);
            },
            onPoint: (i, metrics, who) => {
              for (const f of followers) f.result(i, metrics, who);
            },
          }),
    });
    for (const f of followers) f.ended({ report });
    return { report, provenance };
  } catch (e) {
    const cancelled = e instanceof SweepError && e.cancelled;
    for (const f of followers) f.ended({ error: describeThrown(e), cancelled });
    throw e;
  }
}

/** `bun run scenario worker --queue redis://… [--concurrency N] [--plugin file]… [--scenario-dir dir]…`. */
export async function workerCommand(
  args: { queue?: string; concurrency?: string; plugins: string[]; scenarioDirs: string[] },
  io: Io,
  stop: Promise<void>,
): Promise<number> {
  if (args.queue === undefined)
    throw new InputError("worker needs --queue redis://host:port[/db], the sweeps' Redis");
  const queue = parseQueueUrl(args.queue);
  await runQueueWorker({
    queue,
    concurrency: parseConcurrency(args.concurrency),
    plugins: args.plugins,
    scenarioDirs: args.scenarioDirs,
    cwd: process.cwd(),
    log: (line) => io.err.write(`${line}\n`),
    stop,
  });
  return 0;
}

/** `--concurrency N`: a whole number from 1 up; default one fewer than the CPUs. @throws InputError */
function parseConcurrency(text: string | undefined): number {
  if (text === undefined) return defaultWorkers();
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1)
    throw new InputError(
      `--concurrency ${JSON.stringify(text)}: expected a whole number from 1 up`,
    );
  return n;
}
