import { defineScenario } from "../core/index.ts";

/**
 * Two guests stream while a third attacks their DVMA. With one shared IOTSB the adversary's
 * device reaches the victims' live mappings; binding each requester ID to its owner's entries
 * stops that. Hypercall and LDC attacks are refused in both modes.
 */
export default defineScenario({
  name: "isolation",
  description:
    "An adversary guest attacks two streaming guests' DVMA: shared IOTSB versus per-device isolation (blocked = blocked/attacks)",
  seed: 1,
  duration: "5ms",
  machine: {
    rootComplexes: [
      {
        devhandle: 0x200,
        virtualDma: { base: 0x8000_0000, size: 0x8000_0000 },
        isolation: "shared",
      },
    ],
    domains: [
      { name: "primary", role: "control", strands: 8, memoryMiB: 2048 },
      { name: "ldg1", strands: 4, memoryMiB: 1024 },
      { name: "ldg2", strands: 4, memoryMiB: 1024 },
      { name: "evil", strands: 2, memoryMiB: 512 },
    ],
    devices: [
      { name: "nic1", kind: "nic", devhandle: 0x200, requesterId: 0x0100, domain: "ldg1" },
      { name: "nic2", kind: "nic", devhandle: 0x200, requesterId: 0x0200, domain: "ldg2" },
      { name: "nic3", kind: "nic", devhandle: 0x200, requesterId: 0x0300, domain: "evil" },
    ],
  },
  paths: ["direct"],
  workloads: [
    { plugin: ["stream", { op: "tx", inflight: 16 }], guests: ["ldg1"] },
    { plugin: ["stream", { op: "rx", inflight: 8 }], guests: ["ldg2"] },
    { plugin: ["adversary", { rounds: 20, intervalNs: 20_000 }], guests: ["evil"] },
  ],
  matrix: { "machine.rootComplexes.0.isolation": ["shared", "per-device"] },
});
