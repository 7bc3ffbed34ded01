import { defineScenario } from "../core/index.ts";

/**
 * Where does the guest-side cost of the method matter? One guest streams frames of 60 to 9000
 * bytes on its 10 GbE NIC (jumbo MTU, so every size is one frame) over every path, with strict or
 * deferred unmap, on 1 or 4 vCPUs. On the direct and sriov paths the guest itself pays for each
 * frame's mapping (DMA-API work, two hypercall traps, an IOTLB flush when strict); on bare metal
 * the same driver work without traps; through the service domain its virtual-device client and
 * LDC. Throughput falls below the wire where the guest's vCPUs, not the wire, bind.
 */
export default defineScenario({
  name: "small-packets",
  description:
    "Frame size 60…9000 B × path × unmap mode × guest vCPUs: where the method's guest-side cost limits a stream",
  seed: 1,
  duration: "2ms",
  machine: {
    rootComplexes: [{ devhandle: 0x200 }],
    domains: [
      { name: "primary", role: "control", strands: 8, memoryMiB: 2048 },
      { name: "ldg1", strands: 1, memoryMiB: 1024 },
    ],
    devices: [{ name: "nic1", kind: "nic", devhandle: 0x200, requesterId: 0x0100, domain: "ldg1" }],
  },
  devices: { nic: ["nic", { mtu: 9000 }] },
  paths: ["bare-metal", "direct", "sriov", "service-domain"],
  workloads: [{ plugin: ["stream", { op: "tx", bytes: 60, inflight: 32 }], guests: ["ldg1"] }],
  pivot: ["throughputGbps", "iops", "cpu/ldg1"],
  matrix: {
    "workloads.0.plugin.1.bytes": [60, 256, 1500, 9000],
    "guestDma.unmap": ["strict", "deferred"],
    "machine.domains.1.strands": [1, 4],
  },
});
