import { defineScenario } from "../core/index.ts";

/** Two guests, each streaming over its own NIC; the DVMA each maps is negotiated with the control domain. */
export default defineScenario({
  name: "default",
  description:
    "Two guests stream over their own NICs (ldg1 sends, ldg2 receives in bursts); the method (direct path) end to end",
  seed: 1,
  duration: "20ms",
  machine: {
    rootComplexes: [{ devhandle: 0x200, virtualDma: { base: 0x8000_0000, size: 0x8000_0000 } }],
    domains: [
      { name: "primary", role: "control", strands: 8, memoryMiB: 2048 },
      { name: "ldg1", strands: 8, memoryMiB: 1024 },
      { name: "ldg2", strands: 8, memoryMiB: 1024 },
    ],
    devices: [
      { name: "nic1", kind: "nic", devhandle: 0x200, requesterId: 0x0100, domain: "ldg1" },
      { name: "nic2", kind: "nic", devhandle: 0x200, requesterId: 0x0200, domain: "ldg2" },
    ],
  },
  paths: ["direct", "service-domain", "bare-metal"],
  workloads: [
    { plugin: ["stream", { op: "tx", bytes: 1500, inflight: 16 }], guests: ["ldg1"] },
    {
      plugin: ["stream", { op: "rx", bytes: 1500, inflight: 8, thinkNs: 5_000 }],
      guests: ["ldg2"],
    },
  ],
});
