import { defineScenario, guestMachine } from "../core/index.ts";

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
  machine: guestMachine({
    rootComplex: { virtualDma: { base: 0x8000_0000, size: 0x8000_0000 }, isolation: "shared" },
    control: { strands: 8, memoryMiB: 2048 },
    guests: [
      { strands: 4, memoryMiB: 1024 },
      { strands: 4, memoryMiB: 1024 },
      { name: "evil", strands: 2, memoryMiB: 512 },
    ],
    devices: ["nic"],
  }),
  paths: ["direct"],
  workloads: [
    { plugin: ["stream", { op: "tx", inflight: 16 }], guests: ["ldg1"] },
    { plugin: ["stream", { op: "rx", inflight: 8 }], guests: ["ldg2"] },
    { plugin: ["adversary", { rounds: 20, intervalNs: 20_000 }], guests: ["evil"] },
  ],
  matrix: { "machine.rootComplexes.0.isolation": ["shared", "per-device"] },
});
