import { type Static, Type } from "@sinclair/typebox";

/**
 * Every timing constant of the simulation, in integer nanoseconds (or bytes per ns). Each says
 * where its default comes from and whether it is fitted (to a published figure) or assumed; the
 * README's cost-model table lists them all (test/core/model/machine/cost-model-table.test.ts).
 * No per-hypercall latency for sun4v is published (shared/reference/performance.md), so
 * hypervisor costs are assumptions stated as such and meant to be swept or overridden.
 */

const ns = (def: number, description: string) =>
  Type.Integer({ minimum: 0, maximum: 1e12, default: def, description });
const rate = (def: number, description: string) =>
  Type.Number({ exclusiveMinimum: 0, maximum: 1e6, default: def, description });

export const CostModelSchema = Type.Object(
  {
    hcallTrapNs: ns(
      300,
      "fast-trap entry + return to the guest. Assumed: no published sun4v figure",
    ),
    tteWriteNs: ns(8, "hypervisor work per TTE written or cleared (check RA, store TTE). Assumed"),
    iotlbFlushNs: ns(150, "one IOTLB invalidate operation issued by the hypervisor. Assumed"),
    iotlbMissNs: ns(
      300,
      "IOTSB walk on an IOTLB miss: one memory read from the root complex. Assumed (DRAM latency)",
    ),
    iotlbHitNs: ns(0, "translation on an IOTLB hit, pipelined with the transfer. Assumed"),
    dmaSetupNs: ns(100, "per DMA transaction on the device engine (PCIe reads pipelined). Assumed"),
    dmaBytesPerNs: rate(
      6.5,
      "PCIe Gen3 x8 payload bandwidth, GB/s (7.88 GB/s raw less TLP overhead). Assumed",
    ),
    rootComplexBytesPerNs: rate(
      15.75,
      "PCIe Gen3 x16 link bandwidth, GB/s (8 GT/s x 16 lanes, 128b/130b), shared by every device under one root complex. Assumed",
    ),
    ldcLatencyNs: ns(
      10_000,
      "one LDC packet, sender trap to receiver thread running. Fitted: the T7-1 service-domain round trip (scenarios/calibration.ts)",
    ),
    ldcSendCpuNs: ns(600, "sender CPU per LDC packet (build packet + LDC_TX hypercall). Assumed"),
    ldcRecvCpuNs: ns(800, "receiver CPU per LDC packet (interrupt + dequeue). Assumed"),
    brokerRequestCpuNs: ns(
      2000,
      "control domain CPU to serve one DVMA request or release, besides LDC. Assumed",
    ),
    backendRequestCpuNs: ns(
      760,
      "service domain (vsw/vds) work per request besides LDC and copies. Fitted: the T7-1 service-domain stream (scenarios/calibration.ts)",
    ),
    vioClientCpuNs: ns(
      500,
      "guest virtual-device client (vnet/vdisk) work per request besides LDC. Assumed",
    ),
    dmaApiCpuNs: ns(150, "guest DMA-API bookkeeping per map or unmap, besides hypercalls. Assumed"),
    irqCpuNs: ns(
      500,
      "guest CPU per completion interrupt taken (entry, handler, completion processing). Assumed",
    ),
    policyCallNs: ns(
      100,
      "one policy call that reports no work of its own (its 'call' unit). Assumed: a bitmap or list operation on a warm cache",
    ),
    policyUnitNs: ns(
      5,
      "one unit of work a policy reports under a name without a price of its own (below). Assumed: one cached memory access",
    ),
    policyNodeNs: ns(
      20,
      "one tree or list node a policy visits (unit 'node'). Assumed: a dependent load that may miss L1",
    ),
    policyWordNs: ns(2, "one bitmap word a policy scans (unit 'word'). Assumed: a streaming load"),
    policyMagazineNs: ns(
      10,
      "one per-CPU magazine push or pop (unit 'magazine'). Assumed: a cached array access",
    ),
    memcpyBytesPerNs: rate(
      16,
      "single-thread memory copy, GB/s. Assumed: measured on the development machine (shared/reference/performance.md)",
    ),
    ldcTimeoutNs: ns(
      1_000_000,
      "a guest resends an unanswered DVMA request after this long. Assumed: a protocol timer of the method",
    ),
    ldcRetries: Type.Integer({
      minimum: 0,
      maximum: 100,
      default: 5,
      description: "resends before giving up. Assumed: a protocol setting of the method",
    }),
  },
  { additionalProperties: false, default: {} },
);

export type CostModel = Static<typeof CostModelSchema>;
