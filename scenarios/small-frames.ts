import { defineScenario } from "../core/index.ts";

/**
 * Minimum Ethernet frames (60 B from the driver, 64 B with FCS) on bare metal: how packets per
 * second grow with the guest's vCPUs and the NIC's queue pairs up to the 10 GbE line rate of
 * 14.88 Mpps (84 B per frame on the wire with preamble and inter-frame gap), and never past it.
 */
export default defineScenario({
  name: "small-frames",
  description:
    "60-byte frames on bare metal: Mpps (IOPS) against vCPUs and NIC queues, up to the 14.88 Mpps line rate",
  seed: 1,
  duration: "1ms",
  machine: {
    rootComplexes: [{ devhandle: 0x200 }],
    domains: [
      { name: "primary", role: "control", strands: 2, memoryMiB: 512 },
      { name: "ldg1", strands: 16, memoryMiB: 1024 },
    ],
    devices: [{ name: "nic1", kind: "nic", devhandle: 0x200, requesterId: 0x0100, domain: "ldg1" }],
  },
  devices: { nic: ["nic", { queues: 16 }] },
  // Per-CPU IOVA caches, as Linux uses: a single allocator lock would cap the rate first.
  policies: { local: "iova-rcache" },
  paths: ["bare-metal"],
  workloads: [{ plugin: ["stream", { op: "tx", bytes: 60, inflight: 128 }] }],
  matrix: {
    "machine.domains.1.strands": [1, 4, 8, 16],
    "devices.nic.1.queues": [1, 16],
  },
});
