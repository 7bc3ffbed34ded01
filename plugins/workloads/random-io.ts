/**
 * random-io: fio-like random reads and writes on a disk. `iodepth` loops per guest each issue
 * one request of `blockSize` at a time, a read with probability `readRatio` (drawn from the
 * workload's seeded stream). The disk model has no locality, so offsets are not modelled.
 */

import { definePlugin, type Static, Type, type Workload } from "../../core/index.ts";
import { BACKOFF_NS, laneWorkload } from "./lanes.ts";

const options = Type.Object(
  {
    blockSize: Type.Integer({
      minimum: 512,
      maximum: 1 << 20,
      default: 4096,
      description: "bytes per request (fio bs; 4 KiB random I/O is the usual benchmark)",
    }),
    readRatio: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.7,
      description: "share of reads (fio rwmixread=70, a common OLTP mix)",
    }),
    iodepth: Type.Integer({
      minimum: 1,
      maximum: 4096,
      default: 32,
      description: "requests in flight per guest (fio iodepth)",
    }),
  },
  { additionalProperties: false },
);

/** The random-io workload for validated options (also run by `mix`). */
export function randomIoWorkload(o: Static<typeof options>): Workload {
  return laneWorkload("random-io", o.iodepth, function* (env, cpu) {
    const op = env.rng.chance(o.readRatio) ? "read" : "write";
    const r = yield* env.io.submit({ op, bytes: o.blockSize }, cpu);
    if (!r.ok) yield BACKOFF_NS;
  });
}

export default definePlugin({
  name: "random-io",
  kind: "workload",
  version: "1.0.0",
  description: "Random reads and writes on a disk: block size, read ratio, iodepth",
  options,
  setup: (_ctx, o) => randomIoWorkload(o),
});
