/**
 * request-response: netperf TCP_RR-like transactions. Each of `inflight` loops sends a request
 * (tx) and waits for the reply (rx), which reaches the NIC `peerRttNs` after the request left;
 * the round trip is recorded as `rtt`. On a disk (any device but a NIC) a transaction is a
 * write of `requestBytes` then a read of them back.
 */

import { definePlugin, type Static, Type, type Workload } from "../../core/index.ts";
import { BACKOFF_NS, laneWorkload } from "./lanes.ts";

const bytes = (def: number, description: string) =>
  Type.Integer({ minimum: 1, maximum: 1 << 20, default: def, description });

const options = Type.Object(
  {
    requestBytes: bytes(1, "request payload (netperf TCP_RR default: 1 byte)"),
    responseBytes: bytes(1, "response payload (netperf TCP_RR default: 1 byte); NIC only"),
    inflight: Type.Integer({
      minimum: 1,
      maximum: 4096,
      default: 1,
      description: "transactions in flight per guest (netperf: 1 without burst mode)",
    }),
    peerRttNs: Type.Integer({
      minimum: 0,
      default: 10_000,
      description: "wire both ways plus the remote host's turnaround. Assumed",
    }),
    thinkNs: Type.Integer({
      minimum: 0,
      default: 0,
      description: "mean pause between a loop's transactions, exponential (0 = back to back)",
    }),
  },
  { additionalProperties: false },
);

/** The request-response workload for validated options (also run by `mix`). */
export function requestResponseWorkload(o: Static<typeof options>): Workload {
  return laneWorkload("request-response", o.inflight, function* (env, cpu) {
    const net = env.io.device.kind === "nic";
    const t0 = env.sim.now;
    const a = yield* env.io.submit({ op: net ? "tx" : "write", bytes: o.requestBytes }, cpu);
    const b = a.ok
      ? yield* env.io.submit(
          net
            ? { op: "rx", bytes: o.responseBytes, readyAt: env.sim.now + o.peerRttNs }
            : { op: "read", bytes: o.requestBytes },
          cpu,
        )
      : a;
    if (b.ok) env.observe("rtt", env.sim.now - t0);
    else yield BACKOFF_NS;
    if (o.thinkNs > 0) yield Math.round(env.rng.exponential(o.thinkNs));
  });
}

export default definePlugin({
  name: "request-response",
  kind: "workload",
  version: "1.0.0",
  description: "netperf TCP_RR-like: request out, response back, round trip recorded as rtt",
  options,
  setup: (_ctx, o) => requestResponseWorkload(o),
});
