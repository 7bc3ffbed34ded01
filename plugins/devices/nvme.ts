/**
 * nvme: an NVMe-like SSD with one I/O submission/completion queue pair per vCPU of the domain that
 * owns it (as Linux's nvme driver creates them; a request from vCPU c uses queue c mod queues). Per
 * command it fetches the 64-byte SQ entry, then (for data spanning more than two pages) the PRP
 * list, spends the media latency on one of its internal channels, moves the data through the
 * media stage and by DMA, writes the 16-byte CQ entry and raises the queue's interrupt, whose
 * handler runs on that queue's vCPU. Every DMA goes through the IOMMU.
 *
 * PRP entries name 8 KiB pages (the IO page size; NVMe allows a memory page size of 2^(12+MPS)).
 * The model has no logical block addresses: an SSD without locality effects times every block
 * the same, so only the op and the size matter.
 */

import {
  type Completion,
  DATA_CORRUPT,
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
import { CheckBuffers, holdsTags, interruptOptions, QueuePairs } from "./queues.ts";

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
        "commands outstanding on each queue pair; more wait for a slot. Assumed (NVMe allows 64Ki)",
    }),
    queues: Type.Integer({
      minimum: 1,
      maximum: 1024,
      default: 64,
      description:
        "I/O queue pairs, at most one per vCPU of the owning domain (Linux creates one per CPU). Assumed",
    }),
    maxTransferBytes: Type.Integer({
      minimum: 4096,
      maximum: 1 << 20,
      default: 1 << 20,
      description: "largest command (MDTS): drives report 128 KiB to 2 MiB; 1 MiB assumed",
    }),
    ...interruptOptions,
  },
  { additionalProperties: false },
);

const SQE = 64;
const CQE = 16;
const PRP = 8;
/** Media transfers move whole 4 KiB logical blocks. */
const BLOCK = 4096;

/** One queue pair: its SQ and CQ live at `base` in the mapped ring area. */
interface Queue {
  base: number;
  sqTail: number;
  cqTail: number;
  slots: Resource;
}

class Nvme implements DeviceModel {
  readonly kind = "nvme";
  readonly port: DeviceEnv["port"];
  readonly maxBytes: number;
  readonly frameBytes = BLOCK;
  readonly ringBytes: number;
  private readonly pairs: QueuePairs;
  private readonly queues: Queue[];
  private readonly prpBytes: number;
  private readonly queueBytes: number;
  /**
   * PRP list areas, one per command in flight that needs one (more than two pages), shared by the
   * queues as the driver's DMA pool is; `queueDepth` of them, after the queues in the ring area.
   */
  private readonly prpFree: number[];
  private readonly prpAreas: Resource;
  private prpBase = 0;
  private readonly channels: Resource;
  private readonly media: Resource;
  private readonly checks: CheckBuffers;
  readonly stats = { reads: 0, writes: 0, corrupt: 0, prpListReads: 0 };

  constructor(
    private readonly env: DeviceEnv,
    private readonly o: Static<typeof options>,
  ) {
    const { sim } = env;
    this.port = env.port;
    this.maxBytes = o.maxTransferBytes;
    // An unaligned buffer spans one page more; PRP1 names the first page, the list the rest.
    const maxPages = Math.ceil(o.maxTransferBytes / PAGE_SIZE) + 1;
    this.prpBytes = (maxPages - 1) * PRP;
    this.pairs = new QueuePairs(env, o.queues, o);
    this.queueBytes = o.queueDepth * (SQE + CQE);
    this.ringBytes = this.pairs.count * this.queueBytes + o.queueDepth * this.prpBytes;
    this.queues = Array.from({ length: this.pairs.count }, () => ({
      base: 0,
      sqTail: 0,
      cqTail: 0,
      slots: new Resource(sim, o.queueDepth),
    }));
    this.prpFree = Array.from({ length: o.queueDepth }, (_, s) => o.queueDepth - 1 - s);
    this.prpAreas = new Resource(sim, o.queueDepth);
    this.channels = new Resource(sim, o.channels);
    this.media = new Resource(sim, 1);
    this.checks = new CheckBuffers(maxPages);
  }

  setRing(dvma: number): void {
    this.queues.forEach((q, i) => {
      q.base = dvma + i * this.queueBytes;
    });
    this.prpBase = dvma + this.queues.length * this.queueBytes;
  }

  *execute(req: IoRequest, dvma: number, tag: number, cpu: number, c?: Completion): Proc<number> {
    const qi = this.pairs.of(cpu);
    const q = this.queues[qi]!;
    yield q.slots.request();
    const f = yield* this.command(q, req, dvma, tag);
    q.slots.release();
    if (f !== 0) return f;
    yield* this.pairs.irqs[qi]!.complete(cpu, c);
    return 0;
  }

  private *command(q: Queue, req: IoRequest, dvma: number, tag: number): Proc<number> {
    const { queueDepth: qd } = this.o;
    const read = intoMemory(req.op);
    let f = yield* this.port.dma(q.base + (q.sqTail++ % qd) * SQE, SQE, false, 0);
    if (f !== 0) return f;
    const pages = pagesSpanned(dvma, req.bytes);
    if (pages > 2) {
      yield this.prpAreas.request();
      const area = this.prpFree.pop()!;
      f = yield* this.port.dma(this.prpBase + area * this.prpBytes, (pages - 1) * PRP, false, 0);
      this.prpFree.push(area);
      this.prpAreas.release();
      if (f !== 0) return f;
      this.stats.prpListReads++;
    }
    if (read) {
      yield* this.mediaTime(req.bytes, this.o.readLatencyUs);
      f = yield* this.port.dma(dvma, req.bytes, true, tag);
      if (f !== 0) return f;
      this.stats.reads++;
    } else {
      const out = this.checks.take();
      f = yield* this.port.dma(dvma, req.bytes, false, tag, out);
      // The drive must store the data the driver wrote.
      const same = f === 0 && holdsTags(out, tag, pages);
      this.checks.give(out);
      if (f !== 0) return f;
      if (!same) {
        this.stats.corrupt++;
        return DATA_CORRUPT;
      }
      yield* this.mediaTime(req.bytes, this.o.writeLatencyUs);
      this.stats.writes++;
    }
    return yield* this.port.dma(q.base + qd * SQE + (q.cqTail++ % qd) * CQE, CQE, true, 0);
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
  version: "2.0.0",
  description:
    "NVMe-like SSD: a SQ/CQ pair per vCPU, PRP lists in the mapped ring, lognormal media latency, channels, shared media bandwidth, queue depth",
  options,
  setup(_ctx, o) {
    return (env: DeviceEnv): DeviceModel => new Nvme(env, o);
  },
});
