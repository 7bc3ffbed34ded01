/**
 * stream: bulk transfer. `inflight` loops per guest each issue back-to-back requests of
 * `bytes` (tx or rx on a NIC, read or write on a disk) until the run ends; without `bytes`, of the
 * device's frame size (a NIC's MTU), so the MTU sets the frame.
 */

import {
  definePlugin,
  type IoRequest,
  type Static,
  Type,
  type Workload,
} from "../../core/index.ts";
import { BACKOFF_NS, lanes, running } from "./lanes.ts";

const options = Type.Object(
  {
    op: Type.Union(
      [Type.Literal("tx"), Type.Literal("rx"), Type.Literal("read"), Type.Literal("write")],
      { default: "tx" },
    ),
    bytes: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1 << 20,
        description: "bytes per request; default the device's frame (a NIC's MTU, a disk's block)",
      }),
    ),
    inflight: Type.Integer({
      minimum: 1,
      maximum: 4096,
      default: 8,
      description: "concurrent requests per guest",
    }),
    thinkNs: Type.Integer({
      minimum: 0,
      default: 0,
      description: "mean pause between a loop's requests, exponential (0 = back to back)",
    }),
  },
  { additionalProperties: false },
);

/** The stream workload for validated options (also run by `mix`). */
export function streamWorkload(o: Static<typeof options>): Workload {
  return lanes("stream", o.inflight, function* (env, cpu) {
    // Every request of a lane is the same, and one is in flight at a time: one object serves.
    const req: IoRequest = { op: o.op, bytes: o.bytes ?? env.io.device.frameBytes };
    while (running(env)) {
      const r = yield* env.io.submit(req, cpu);
      if (!r.ok) yield BACKOFF_NS;
      if (o.thinkNs > 0) yield Math.round(env.rng.exponential(o.thinkNs));
    }
  });
}

export default definePlugin({
  name: "stream",
  kind: "workload",
  version: "1.0.0",
  description: "Bulk stream: back-to-back requests of a fixed size, several in flight",
  options,
  setup: (_ctx, o) => streamWorkload(o),
});
