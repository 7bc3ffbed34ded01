import { defineScenario, guestMachine } from "../core/index.ts";

/**
 * How guests get DVMA: one negotiation per mapping (the method read literally), leased chunks,
 * or a static partition leased once at boot. Each guest's slice is fixed by the static-partition
 * policy in all three, so only the acquisition differs: LDC messages per I/O, control-domain
 * CPU, and the latency the negotiation adds to each I/O.
 */
export default defineScenario({
  name: "negotiation",
  description:
    "Per-mapping negotiation vs leased chunks vs static partitions: LDC traffic and latency",
  seed: 1,
  duration: "4ms",
  machine: guestMachine({
    control: { strands: 8, memoryMiB: 2048 },
    guests: [
      { strands: 8, memoryMiB: 512 },
      { strands: 8, memoryMiB: 512 },
    ],
    devices: ["nic"],
  }),
  policies: { global: "static-partition" },
  paths: ["direct"],
  workloads: [{ plugin: ["stream", { op: "tx", inflight: 8 }] }],
  matrix: {
    guestDma: [
      { acquire: "per-map" },
      { acquire: "lease", leasePages: 512 },
      { acquire: "lease", leasePages: 131072 },
    ],
  },
});
