/**
 * The DMA hot paths: single-page map+unmap through the guest DMA API (lease held, strict unmap:
 * two hypercalls and one IOTLB flush per pair) and IOTLB-hit translations through the IOMMU.
 */
import { isDmaFailure } from "../../core/model/domains/guest-dma-types.ts";
import type { Proc } from "../../core/model/sim/kernel.ts";
import { bootSmall } from "../helpers/platform.ts";
import { header, row, samples } from "./harness.ts";

const DH = 0x200;

function mapUnmap(pairs: number): () => void {
  return () => {
    const b = bootSmall({ windowPages: 4096, guestDma: { leasePages: 1024 } });
    const g = b.platform.guests[0]!;
    const dma = g.dma.get(DH)!;
    const ra = g.memory.alloc(1);
    function* loop(): Proc<void> {
      yield* g.link.handshake();
      for (let i = 0; i < pairs; i++) {
        const m = yield* dma.mapSingle(ra, 4096, "from-device");
        if (isDmaFailure(m)) throw new Error(m.error);
        yield* dma.unmapSingle(m);
      }
    }
    b.sim.spawn(loop(), "bench");
    b.sim.run();
    if (dma.stats.maps !== pairs) throw new Error("not every map completed");
  };
}

function translations(n: number): () => void {
  const b = bootSmall({ windowPages: 64 });
  const { hv } = b;
  hv.dvmaGrant(0, 1, DH, 0x8000_0000, 8);
  const mem = hv.domains[1]!.mem;
  const list = b.platform.guests[0]!.memory.alloc(1);
  const buf = b.platform.guests[0]!.memory.alloc(1);
  hv.memory.words(mem.paPageOf(list))[0] = buf;
  hv.iommuMap(1, DH, 0, 0, 1, 3, list);
  const io = hv.iommus.get(DH)!;
  return () => {
    for (let i = 0; i < n; i++)
      if (io.dma(0x100, 0x8000_0000 + (i & 4095), 64, true, i) !== 0) throw new Error("fault");
  };
}

export default async function ({ quick }: { quick: boolean }): Promise<void> {
  const pairs = quick ? 100_000 : 1_000_000;
  header(`DMA API: ${pairs} single-page map+unmap pairs, median of 3`);
  const t = samples("map+unmap", mapUnmap(pairs), { repeat: 3, warmup: 1 });
  row(
    "map+unmap pairs through GuestDmaApi",
    t.map((s) => pairs / s),
    "ops/s",
    2e6,
  );
  const n = quick ? 2_000_000 : 20_000_000;
  header(`IOMMU: ${n} single-page DMAs hitting the IOTLB, median of 3`);
  const u = samples("translate", translations(n), { repeat: 3, warmup: 1 });
  row(
    "IOTLB-hit translations (Iommu.dma)",
    u.map((s) => n / s),
    "translations/s",
    20e6,
  );
}
