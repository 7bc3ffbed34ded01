import { defineScenario } from "../core/index.ts";

/**
 * 1 to 127 guests (128 domains with the control domain: the logical-domain limit), each with its
 * own NIC streaming at line rate. On the service path every packet goes through the control
 * domain's CPUs, which saturate; on the direct path the control domain stays out of the data path.
 * Every lease starts on a multiple of 512 pages: the IOTLB hit rate column shows the hashed set
 * index keeping them from aliasing; no guest may starve for DVMA.
 */
export default defineScenario({
  name: "scale",
  description:
    "1 to 127 guests streaming: where the service domain saturates and how the method scales",
  seed: 1,
  duration: "1ms",
  machine: {
    rootComplexes: [{ devhandle: 0x200, iotlb: { sets: 256, ways: 8 } }],
    domains: [{ name: "primary", role: "control", strands: 16, memoryMiB: 4096 }],
    guestPool: {
      count: 1,
      namePrefix: "ldg",
      strands: 2,
      memoryMiB: 64,
      devices: [{ kind: "nic", devhandle: 0x200 }],
    },
  },
  paths: ["direct", "service-domain"],
  workloads: [{ plugin: ["stream", { op: "tx", inflight: 8 }] }],
  matrix: { "machine.guestPool.count": [1, 2, 4, 8, 16, 32, 64, 127] },
  columns: ["extra/iotlb.hitRate", "extra/dvma.starvedGuests"],
});
