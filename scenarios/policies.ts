import { defineScenario } from "../core/index.ts";

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
  machine: {
    rootComplexes: [{ devhandle: 0x200 }],
    domains: [
      { name: "primary", role: "control", strands: 8, memoryMiB: 2048 },
      { name: "ldg1", strands: 8, memoryMiB: 1024 },
      { name: "ldg2", strands: 8, memoryMiB: 1024 },
    ],
    devices: [
      { name: "nic1", kind: "nic", devhandle: 0x200, requesterId: 0x0100, domain: "ldg1" },
      { name: "disk1", kind: "nvme", devhandle: 0x200, requesterId: 0x0108, domain: "ldg1" },
      { name: "nic2", kind: "nic", devhandle: 0x200, requesterId: 0x0200, domain: "ldg2" },
      { name: "disk2", kind: "nvme", devhandle: 0x200, requesterId: 0x0208, domain: "ldg2" },
    ],
  },
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
