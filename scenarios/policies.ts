import { defineScenario, guestMachine } from "../core/index.ts";

const nic = (plugin: unknown) => [{ plugin, device: "nic" }];
const disk = (plugin: unknown) => [{ plugin, device: "nvme" }];

/**
 * Every built-in local (guest) policy under a bulk stream, a latency-bound request/response and
 * random disk I/O: DVMA fragmentation (`dvma.localFragmentation`), IOTLB hit rate
 * (`iotlb.hitRate`), and what each costs in negotiation and latency. The policies' own
 * alloc+free speed is measured by `bun run bench policies`.
 */
export default defineScenario({
  name: "policies",
  description: "Every local DVMA policy under stream, request/response and random I/O",
  seed: 1,
  duration: "2ms",
  machine: guestMachine({
    control: { strands: 8, memoryMiB: 2048 },
    guests: [
      { strands: 8, memoryMiB: 1024 },
      { strands: 8, memoryMiB: 1024 },
    ],
    devices: ["nic", "nvme"],
  }),
  paths: ["direct"],
  guestDma: { leasePages: 256 },
  columns: ["dvma/fragmentation", "extra/dvma.localFragmentation", "extra/iotlb.hitRate"],
  matrix: {
    "policies.local": [
      "bitmap-next-fit",
      "iommu-common",
      "iova-rbtree",
      "iova-rcache",
      "negotiate-per-map",
    ],
    workloads: [
      nic(["stream", { op: "tx", inflight: 16 }]),
      nic(["request-response", { inflight: 4 }]),
      disk(["random-io", { blockSize: 16384, iodepth: 32 }]),
    ],
  },
});
