/**
 * direct: the method. The guest negotiates DVMA with the control domain (leases or one request
 * per mapping), maps its pages itself through the hypervisor's IOMMU calls, and its assigned
 * device DMAs straight into its memory; the control domain is out of the data path.
 */

import {
  DATA_CORRUPT,
  DMA_FAULT_NAMES,
  definePlugin,
  type GuestDmaApi,
  type GuestIo,
  type IoPath,
  type IoRequest,
  type IoResult,
  intoMemory,
  isDmaFailure,
  type PathEnv,
  type Proc,
} from "../../core/index.ts";
import { BufferPool, fillData, holdsData, TagSource } from "./guest-buffers.ts";

export class DirectIo implements GuestIo {
  readonly guest: number;
  readonly device: PathEnv["device"];
  private readonly dma: GuestDmaApi;
  private readonly pool: BufferPool;
  private readonly tags: TagSource;

  constructor(private readonly env: PathEnv) {
    this.guest = env.guest.id;
    this.device = env.device;
    const dma = env.guest.dma.get(env.device.port.devhandle);
    if (dma === undefined)
      throw new Error(
        `guest ${env.guest.name} has no DMA API on devhandle ${env.device.port.devhandle}`,
      );
    this.dma = dma;
    this.pool = new BufferPool(env.guest.memory, env.device.maxBytes);
    this.tags = new TagSource(env.guest.id);
  }

  *setup(): Proc<boolean> {
    if (this.device.ringBytes === 0) return true;
    const ring = yield* this.dma.allocCoherent(this.device.ringBytes);
    if (isDmaFailure(ring)) return false;
    this.device.setRing(ring.mapping.dvma);
    return true;
  }

  *submit(req: IoRequest, cpu: number): Proc<IoResult> {
    const { sim, hv } = this.env.platform;
    const t0 = sim.now;
    if (!(req.bytes > 0 && req.bytes <= this.device.maxBytes)) {
      return { ok: false, bytes: 0, latencyNs: 0, error: "bad-request-size" };
    }
    const ra = this.pool.take();
    if (ra < 0) return { ok: false, bytes: 0, latencyNs: 0, error: "out-of-memory" };
    const into = intoMemory(req.op);
    const tag = this.tags.next();
    if (!into) fillData(hv, this.guest, ra, req.bytes, tag);
    const m = yield* this.dma.mapSingle(ra, req.bytes, into ? "from-device" : "to-device", cpu);
    if (isDmaFailure(m)) {
      this.pool.give(ra);
      return { ok: false, bytes: 0, latencyNs: sim.now - t0, error: m.error };
    }
    // The device completes it through its queue's interrupt, whose handler unmaps the buffer;
    // if it did not (a fault, or another request raised the interrupt), the driver unmaps it.
    const unmap = this.dma.completion(m);
    const fault = yield* this.device.execute(req, m.dvma, tag, cpu, unmap ?? undefined);
    if (unmap === null || !unmap.done) yield* this.dma.unmapSingle(m, cpu);
    let error =
      fault === 0 ? "" : fault === DATA_CORRUPT ? "data-corrupt" : DMA_FAULT_NAMES[fault]!;
    if (error === "" && into && !holdsData(hv, this.guest, ra, req.bytes, tag))
      error = "data-corrupt";
    this.pool.give(ra);
    return { ok: error === "", bytes: req.bytes, latencyNs: sim.now - t0, error };
  }
}

export default definePlugin({
  name: "direct",
  kind: "path",
  version: "1.0.0",
  description:
    "The method: guest-negotiated DVMA, guest-mapped TTEs, device DMA straight to guest memory",
  setup(): IoPath {
    return { name: "direct", connect: (env) => new DirectIo(env) };
  },
});
