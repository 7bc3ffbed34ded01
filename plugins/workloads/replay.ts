/**
 * replay: a real machine's DMA mappings played on a guest's vCPUs. Reads Linux ftrace text of
 * the iommu:map / iommu:unmap tracepoints (older and newer line formats) or a plain CSV
 * (trace-parse.ts), once, at setup: a line that cannot be read stops the run before it starts,
 * naming the file and the line. The CPU column picks the vCPU (modulo the guest's), the
 * timestamps the times (scaled by `timeScale`), sizes the pages; each unmap pairs with its map.
 * The iova the real allocator chose is not used: this guest's allocator chooses its own.
 */

import { readFileSync } from "node:fs";
import { definePlugin, InputError, Type, type Workload } from "../../core/index.ts";
import { playOps } from "./play-ops.ts";
import { parseTrace } from "./trace-parse.ts";

const options = Type.Object(
  {
    file: Type.String({ minLength: 1, description: "the trace file (ftrace text or CSV)" }),
    format: Type.Union([Type.Literal("auto"), Type.Literal("ftrace"), Type.Literal("csv")], {
      default: "auto",
      description: "auto: CSV when the first line is the CSV header, else ftrace",
    }),
    stallUs: Type.Number({
      exclusiveMinimum: 0,
      default: 50,
      description: "a map taking longer than this (µs) counts in alloc.stalls (assumed threshold)",
    }),
    timeScale: Type.Number({
      exclusiveMinimum: 0,
      default: 1,
      description: "recorded time is multiplied by this (0.5 plays twice as fast)",
    }),
  },
  { additionalProperties: false },
);

/** Problems listed in the error before "and N more". */
const SHOWN = 10;

export default definePlugin({
  name: "replay",
  kind: "workload",
  version: "1.0.0",
  description:
    "Replays recorded DMA maps and unmaps (Linux iommu ftrace text or CSV) on the guest's vCPUs",
  options,
  setup(ctx, o): Workload {
    let text: string;
    try {
      text = readFileSync(o.file, "utf8");
    } catch (e) {
      throw new InputError(`replay: cannot read ${o.file}: ${(e as Error).message}`);
    }
    const trace = parseTrace(text, o.format);
    if (trace.problems.length > 0) {
      const shown = trace.problems.slice(0, SHOWN).map((p) => `${o.file}:${p.line}: ${p.message}`);
      const more = trace.problems.length - shown.length;
      throw new InputError(
        `replay: ${trace.problems.length} unreadable line(s):\n${shown.join("\n")}${more > 0 ? `\nand ${more} more` : ""}`,
      );
    }
    const ops = trace.ops.map((op) => ({ ...op, atNs: Math.round(op.atNs * o.timeScale) }));
    const ends: (() => void)[] = [];
    ctx.hooks.hook("end", () => {
      for (const end of ends) end();
    });
    return {
      start(env) {
        const end = playOps(env, ops, "replay", o.stallUs * 1e3);
        ends.push(() => {
          end();
          env.figure("replay.unpairedUnmaps", trace.unpaired);
        });
      },
    };
  },
});
