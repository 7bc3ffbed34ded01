import { defineScenario } from "../core/index.ts";

/**
 * The iova.c linear-search stall, reproduced at will: one guest whose vCPUs (1, 8 or 64) play
 * the comb pattern (plugins/workloads/patterns.ts) at three fragmentation levels (256, 4096 and
 * 16384 long-lived mappings) through each guest allocator. The guest holds the whole 2 GiB
 * window as one lease, so every mapping is the local allocator's. Reported per point: nodes
 * visited per alloc (alloc.workP50/P99/Max: tree nodes; iommu-common: bitmap words), the map latency
 * ("map"), the longest map, maps over the stall threshold (50 µs), the allocator lock's hold
 * and wait distributions (alloc.lockHold*, alloc.lockWait*: p50, p99, max), the longest any vCPU
 * spun on a lock (alloc.longestSpinUs), the total time vCPUs waited for locks (ldg1.lockWaitUs),
 * and the allocator's map at its worst call (alloc.worst*; the HTML report draws the window at
 * the slowest map).
 */
export default defineScenario({
  name: "iova-stall",
  description:
    "iova.c's linear search under the comb pattern: vCPUs × allocator × fragmentation, with the O(log n) fixes",
  seed: 1,
  duration: "60ms",
  machine: {
    rootComplexes: [{ devhandle: 0x200 }],
    domains: [{ name: "primary", role: "control", strands: 8, memoryMiB: 2048 }],
    guestPool: {
      count: 1,
      namePrefix: "ldg",
      strands: 8,
      memoryMiB: 1024,
      devices: [{ kind: "nic", devhandle: 0x200 }],
    },
  },
  paths: ["direct"],
  guestDma: { leasePages: 262144 },
  workloads: [
    { plugin: ["alloc-pattern", { pattern: "comb", gapNs: 1000, comb: { live: 4096 } }] },
  ],
  columns: [
    "extra/alloc.workP50",
    "extra/alloc.workP99",
    "extra/alloc.workMax",
    "extra/map.p99Us",
    "extra/alloc.maxMapUs",
    "extra/alloc.stalls",
    "extra/alloc.lockHoldP99Us",
    "extra/alloc.lockWaitP50Us",
    "extra/alloc.lockWaitP99Us",
    "extra/alloc.longestSpinUs",
    "extra/ldg1.lockWaitUs",
    "extra/alloc.worstFreeGaps",
    "extra/alloc.failures",
  ],
  matrix: {
    "machine.guestPool.strands": [1, 8, 64],
    "policies.local": [
      "iova-rbtree",
      "iova-augmented",
      "iova-maple",
      "iova-rcache",
      "iommu-common",
    ],
    "workloads.0.plugin.1.comb.live": [256, 4096, 16384],
  },
});
