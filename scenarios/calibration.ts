import { defineScenario, guestMachine } from "../core/index.ts";

const BLOG =
  'Oracle performance blog, "Virtualized Network Performance: SPARC T7-1" (2015), netperf, 10 GbE, MTU 1500';

/**
 * The default cost model against a published measurement of this platform family. ldg1 runs a
 * TCP_STREAM-like bulk send (1448-byte TCP payloads: 1538-byte Ethernet frames plus 52 bytes of
 * TCP/IP headers on the wire), ldg2 a TCP_RR-like 1-byte request/response, each on its own NIC.
 */
export default defineScenario({
  name: "calibration",
  description:
    "Model vs published SPARC T7-1 netperf figures: bare metal, assigned (direct), SR-IOV and service-domain I/O",
  seed: 1,
  duration: "10ms",
  machine: guestMachine({
    control: { strands: 16, memoryMiB: 2048 },
    guests: [
      { strands: 16, memoryMiB: 1024 },
      { strands: 16, memoryMiB: 1024 },
    ],
    devices: ["nic"],
  }),
  devices: { nic: ["nic", { wireOverheadBytes: 90 }] },
  // One VF per port: the two netperf tests are separate experiments, as on the two NICs.
  paths: ["bare-metal", "direct", ["sriov", { vfsPerPort: 1 }], "service-domain"],
  workloads: [
    { plugin: ["stream", { op: "tx", bytes: 1448, inflight: 64 }], guests: ["ldg1"] },
    // peerRttNs: the remote host's TCP stack and the wire both ways (fitted: not measured separately).
    {
      plugin: ["request-response", { requestBytes: 1, responseBytes: 1, peerRttNs: 47_000 }],
      guests: ["ldg2"],
    },
  ],
  reference: [
    { path: "bare-metal", metric: "throughputGbps", value: 9.1, source: BLOG },
    { path: "direct", metric: "throughputGbps", value: 9.4, source: BLOG },
    { path: "sriov", metric: "throughputGbps", value: 9.4, source: BLOG },
    { path: "service-domain", metric: "throughputGbps", value: 4.8, source: BLOG },
    { path: "bare-metal", metric: "extra/rtt.p50Us", value: 58, source: BLOG },
    { path: "direct", metric: "extra/rtt.p50Us", value: 51, source: BLOG },
    { path: "sriov", metric: "extra/rtt.p50Us", value: 58, source: BLOG },
    { path: "service-domain", metric: "extra/rtt.p50Us", value: 91, source: BLOG },
  ],
});
