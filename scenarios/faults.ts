import { defineScenario, guestMachine } from "../core/index.ts";

/**
 * Things going wrong while guests do DMA: ldg2 dies mid-stream, the broker crashes and restarts,
 * and 2% of LDC packets are lost. Every mapping negotiates (per-map), so the broker is busy
 * throughout. What must hold: everything the dead guest held is reclaimed, the rebuilt ledger
 * matches the hypervisor, nothing stale stays mapped (invariantViolations and
 * dvma.deadOwnedPages are 0), and the surviving guests carry on.
 */
export default defineScenario({
  name: "faults",
  description:
    "A guest dies mid-DMA, the broker restarts, LDC packets are lost: everything reclaimed, nothing stale",
  seed: 1,
  duration: "6ms",
  machine: guestMachine({
    control: { strands: 8, memoryMiB: 2048 },
    guests: [1, 2, 3].map(() => ({ strands: 4, memoryMiB: 512 })),
    devices: ["nic"],
  }),
  paths: ["direct"],
  guestDma: { acquire: "per-map" },
  cost: { ldcTimeoutNs: 200_000 },
  ldc: { lossRate: 0.02 },
  workloads: [{ plugin: ["stream", { op: "rx", inflight: 4 }] }],
  columns: ["extra/dvma.deadOwnedPages", "extra/invariantViolations", "extra/guestErrors"],
  faults: [
    { kind: "kill", at: "1500us", domain: "ldg2" },
    { kind: "broker-restart", at: "3ms", downFor: "400us" },
  ],
});
