/**
 * nvme: an NVMe-like SSD with one submission/completion queue pair. Per command it fetches the
 * 64-byte SQ entry, then (for data spanning more than two pages) the PRP list, spends the media
 * latency on one of its internal channels, moves the data through the media stage and by DMA,
 * writes the 16-byte CQ entry and raises an interrupt. Every DMA goes through the IOMMU.
 *
 * PRP entries name 8 KiB pages (the IO page size; NVMe allows a memory page size of 2^(12+MPS)).
 * The model has no logical block addresses: an SSD without locality effects times every block
 * the same, so only the op and the size matter.
 */

import {
  type DeviceEnv,
  type DeviceModel,
  definePlugin,
  type IoRequest,
  intoMemory,
  PAGE_SIZE,
  type Proc,
  pagesSpanned,
  Resource,
  type Static,
  Type,
} from "../../core/index.ts";

const options = Type.Object(
  {
    readLatencyUs: Type.Number({
      exclusiveMinimum: 0,
      default: 80,
      description:
        "median media latency of a read: typical datacenter NVMe SSD 4K random read. Assumed",
    }),
    writeLatencyUs: Type.Number({
      exclusiveMinimum: 0,
      default: 20,
      description:
        "median latency of a write, absorbed by the drive's power-protected cache. Assumed",
    }),
    latencySigma: Type.Number({
      minimum: 0,
      maximum: 3,
      default: 0.3,
      description: "sigma of the lognormal media latency (0 = fixed). Assumed",
    }),
    channels: Type.Integer({
      minimum: 1,
      maximum: 1024,
      default: 8,
      description:
        "commands in the media at once: 8 flash channels, as in common controllers. Assumed",
    }),
    bandwidthGBps: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1000,
      default: 3.0,
      description:
        "media throughput shared by all transfers: PCIe Gen3 x4 SSD sequential read (datasheets ~3 GB/s)",
    }),
    queueDepth: Type.Integer({
      minimum: 1,
      maximum: 65536,
      default: 64,
      description:
        "commands outstanding on the queue pair; more wait for a slot. Assumed (NVMe allows 64Ki)",
    }),
    maxTransferBytes: Type.Integer({
      minimum: 4096,
      maximum: 1 << 20,
      default: 1 << 20,
      description: "largest command (MDTS): drives report 128 KiB to 2 MiB; 1 MiB assumed",
    }),
    interruptNs: Type.Integer({
      minimum: 0,
      default: 2000,
      description: "MSI-X interrupt delivery to the driver. Assumed (as the NIC)",
    }),
  },
  { additionalProperties: false },
);

const SQE = 64;
const CQE = 16;
const PRP = 8;
/** Media transfers move whole 4 KiB logical blocks. */
const BLOCK = 4096;

class Nvme implements DeviceModel {
  readonly kind = "nvme";
  readonly port: DeviceEnv["port"];
  readonly maxBytes: number;
  readonly ringBytes: number;
  private ring = -1;
  private sqTail = 0;
  private cqTail = 0;
  /** Command slots free for a new command; a slot owns its PRP list area. */
  private readonly freeSlots: number[] = [];
  private readonly prpBytes: number;
  private readonly slots: Resource;
  private readonly channels: Resource;
  private readonly media: Resource;
  private readonly check: Uint32Array;
  readonly stats = { reads: 0, writes: 0, corrupt: 0, prpListReads: 0 };

  constructor(
    private readonly env: DeviceEnv,
    private readonly o: Static<typeof options>,
  ) {
    this.port = env.port;
    this.maxBytes = o.maxTransferBytes;
    // An unaligned buffer spans one page more; PRP1 names the first page, the list the rest.
    const maxPages = Math.ceil(o.maxTransferBytes / PAGE_SIZE) + 1;
    this.prpBytes = (maxPages - 1) * PRP;
    this.ringBytes = o.queueDepth * (SQE + CQE + this.prpBytes);
    for (let s = o.queueDepth - 1; s >= 0; s--) this.freeSlots.push(s);
    this.slots = new Resource(env.sim, o.queueDepth);
    this.channels = new Resource(env.sim, o.channels);
    this.media = new Resource(env.sim, 1);
    this.check = new Uint32Array(maxPages);
  }

  setRing(dvma: number): void {
    this.ring = dvma;
  }

  *execute(req: IoRequest, dvma: number, tag: number): Proc<number> {
    yield this.slots.request();
    const slot = this.freeSlots.pop()!;
    const r = yield* this.command(req, dvma, tag, slot);
    this.freeSlots.push(slot);
    this.slots.release();
    return r;
  }

  private *command(req: IoRequest, dvma: number, tag: number, slot: number): Proc<number> {
    const { queueDepth: qd } = this.o;
    const read = intoMemory(req.op);
    let f = yield* this.port.dma(this.ring + (this.sqTail++ % qd) * SQE, SQE, false, 0);
    if (f !== 0) return f;
    const pages = pagesSpanned(dvma, req.bytes);
    if (pages > 2) {
      const list = this.ring + qd * (SQE + CQE) + slot * this.prpBytes;
      f = yield* this.port.dma(list, (pages - 1) * PRP, false, 0);
      if (f !== 0) return f;
      this.stats.prpListReads++;
    }
    if (read) {
      yield* this.mediaTime(req.bytes, this.o.readLatencyUs);
      f = yield* this.port.dma(dvma, req.bytes, true, tag);
      if (f !== 0) return f;
      this.stats.reads++;
    } else {
      f = yield* this.port.dma(dvma, req.bytes, false, tag, this.check);
      if (f !== 0) return f;
      // The drive must store the data the driver wrote.
      for (let k = 0; k < pages; k++) {
        if (this.check[k] !== (tag + k) >>> 0) {
          this.stats.corrupt++;
          return -1;
        }
      }
      yield* this.mediaTime(req.bytes, this.o.writeLatencyUs);
      this.stats.writes++;
    }
    f = yield* this.port.dma(this.ring + qd * SQE + (this.cqTail++ % qd) * CQE, CQE, true, 0);
    if (f !== 0) return f;
    yield this.o.interruptNs;
    return 0;
  }

  /**
   * Latency on one of `channels` (lognormal around the median), then the blocks through the
   * media stage: a serialised stage at `bandwidthGBps`, so concurrent transfers share it FIFO.
   */
  private *mediaTime(bytes: number, medianUs: number): Proc<void> {
    const { rng } = this.env;
    yield this.channels.request();
    yield Math.round(rng.lognormal(Math.log(medianUs * 1000), this.o.latencySigma));
    this.channels.release();
    yield this.media.request();
    yield Math.ceil((Math.ceil(bytes / BLOCK) * BLOCK) / this.o.bandwidthGBps);
    this.media.release();
  }
}

export default definePlugin({
  name: "nvme",
  kind: "device",
  version: "1.0.0",
  description:
    "NVMe-like SSD: SQ/CQ and PRP lists in the mapped ring, lognormal media latency, channels, shared media bandwidth, queue depth",
  options,
  setup(_ctx, o) {
    return (env: DeviceEnv): DeviceModel => new Nvme(env, o);
  },
});
