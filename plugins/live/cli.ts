/** The live plugin's flags on `bun run scenario`: --serve turns it on; the others qualify it. */

import { definePluginCli, InputError } from "../../core/index.ts";
import type { LiveOptions } from "./options.ts";

export const liveCli = definePluginCli({
  // With --queue the submitter hands the workers' progress and results to the feed.
  followsQueue: true,
  args: {
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
  options(flags, command): Partial<LiveOptions> | undefined {
    if (!flags.serve) {
      const stray = (["port", "host", "pace", "token"] as const).find(
        (k) => flags[k] !== undefined,
      );
      if (stray) throw new InputError(`--${stray} only applies with --serve`);
      return undefined;
    }
    // Runs over HTTP may name the plugin files given on the command line.
    const options: Partial<LiveOptions> = { plugins: [...command.plugins] };
    if (flags.port !== undefined) {
      if (!/^\d{1,5}$/.test(flags.port) || Number(flags.port) > 65535)
        throw new InputError(
          `--port ${JSON.stringify(flags.port)}: expected a whole number from 0 to 65535 (0 = any free port)`,
        );
      options.port = Number(flags.port);
    }
    if (flags.host !== undefined) options.host = flags.host;
    if (flags.token !== undefined) options.token = flags.token;
    return options;
  },
  pace(flags): number | undefined {
    if (flags.pace === undefined) return undefined;
    const pace = Number(flags.pace);
    if (!(flags.pace.trim() !== "" && Number.isFinite(pace) && pace > 0))
      throw new InputError(
        `--pace ${JSON.stringify(flags.pace)}: expected a number > 0 (simulated time per wall time, e.g. 0.001)`,
      );
    return pace;
  },
});
