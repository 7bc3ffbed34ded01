/**
 * bare-metal: the upper bound. One OS per device with nothing between it and the hardware: the
 * same driver and IOMMU work as the direct path (TTE writes, IOTLB flushes, device DMA), but no
 * hypervisor trap, no negotiation and no LDC — each OS owns its share of the DVMA window from
 * boot, as a native kernel owns the whole IOMMU.
 */

import { definePlugin, type IoPath, PAGE_SIZE, type PathPlan } from "../../core/index.ts";
import { DirectIo } from "./direct.ts";

export default definePlugin({
  name: "bare-metal",
  kind: "path",
  version: "1.0.0",
  description:
    "Upper bound: the direct path's DMA work without hypervisor traps, negotiation or LDC",
  setup(): IoPath {
    return {
      name: "bare-metal",
      plan(p: PathPlan): PathPlan {
        const guests = Math.max(1, p.md.domains.filter((d) => d.role === "guest").length);
        const windowPages = Math.min(
          ...p.md.rootComplexes.map((rc) => rc.virtualDma.size / PAGE_SIZE),
        );
        return {
          md: p.md,
          // No hypervisor: its costs vanish; the one-off boot-time share of the window is not data-path work.
          cost: {
            ...p.cost,
            hcallTrapNs: 0,
            ldcLatencyNs: 0,
            ldcSendCpuNs: 0,
            ldcRecvCpuNs: 0,
            brokerRequestCpuNs: 0,
          },
          guestDma: {
            ...p.guestDma,
            acquire: "lease",
            leasePages: Math.floor(windowPages / guests),
          },
          native: true,
        };
      },
      connect: (env) => new DirectIo(env),
    };
  },
});
