import { defineScenario, guestMachine } from "../core/index.ts";

/**
 * The central question: what does each I/O path cost? Two guests, each streaming over its NIC and
 * doing random I/O on its NVMe disk, over the method (direct), the classic service domain, and
 * bare metal. The nic.* and nvme.* columns split the figures by device.
 */
export default defineScenario({
  name: "default",
  description:
    "Two guests, each with a NIC and an NVMe disk, over direct (the method), service-domain and bare-metal",
  seed: 1,
  duration: "10ms",
  machine: guestMachine({
    rootComplex: { virtualDma: { base: 0x8000_0000, size: 0x8000_0000 } },
    control: { strands: 8, memoryMiB: 2048 },
    guests: [
      { strands: 8, memoryMiB: 1024 },
      { strands: 8, memoryMiB: 1024 },
    ],
    devices: ["nic", "nvme"],
  }),
  // The stream names no frame size: the NIC's MTU sets it (`--set devices.nic.1.mtu=9000`).
  devices: { nic: ["nic", { mtu: 1500 }] },
  paths: ["direct", "service-domain", "bare-metal"],
  workloads: [
    { plugin: ["stream", { op: "tx", inflight: 16 }], device: "nic" },
    { plugin: ["random-io", { blockSize: 8192, readRatio: 0.7, iodepth: 16 }], device: "nvme" },
  ],
  columns: ["extra/nic.gbps", "extra/nic.p99Us", "extra/nvme.iops", "extra/nvme.p99Us"],
});
