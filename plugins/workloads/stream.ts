/**
 * stream: bulk transfer. `inflight` loops per guest each issue back-to-back requests of
 * `bytes` (tx or rx on a NIC, read or write on a disk) until the run ends.
 */

import {
  definePlugin,
  type Proc,
  type Static,
  Type,
  type Workload,
  type WorkloadEnv,
} from "../../core/index.ts";

const options = Type.Object(
  {
    op: Type.Union(
      [Type.Literal("tx"), Type.Literal("rx"), Type.Literal("read"), Type.Literal("write")],
      { default: "tx" },
    ),
    bytes: Type.Integer({ minimum: 1, maximum: 1 << 20, default: 1500 }),
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

/** After a failed request, wait this long before the next (a failure may take no time). */
export const BACKOFF_NS = 10_000;

/** The stream workload for validated options (also run by `mix`). */
export function streamWorkload(o: Static<typeof options>): Workload {
  function* loop(env: WorkloadEnv, lane: number): Proc<void> {
    while (env.sim.now < env.untilNs && env.platform.hv.domains[env.guest.id]!.alive) {
      const r = yield* env.io.submit({ op: o.op, bytes: o.bytes }, lane % env.guest.cpu.strands);
      if (!r.ok) yield BACKOFF_NS;
      if (o.thinkNs > 0) yield Math.round(env.rng.exponential(o.thinkNs));
    }
  }
  return {
    start(env) {
      for (let i = 0; i < o.inflight; i++)
        env.sim.spawn(loop(env, i), `stream:${env.guest.name}:${i}`);
    },
  };
}

export default definePlugin({
  name: "stream",
  kind: "workload",
  version: "1.0.0",
  description: "Bulk stream: back-to-back requests of a fixed size, several in flight",
  options,
  setup: (_ctx, o) => streamWorkload(o),
});
