/**
 * nic: an Ethernet NIC with RSS queue pairs, each bound to a vCPU of the domain that owns it (a
 * lane on vCPU c uses queue c mod queues). Each queue has a tx and an rx descriptor ring; the NIC
 * prefetches descriptors and writes completions back in batches, keeps several payload reads in
 * flight and coalesces the queue's completion interrupt. Tx and rx have their own wire, their own
 * direction of the NIC's PCIe link and of the root complex's (full duplex). Every DMA goes
 * through the IOMMU.
 *
 * A request's bytes are the frame the driver hands over (headers included, FCS not); on the wire
 * it takes `wireOverheadBytes` more, after padding to the 60-byte minimum. So 60-byte frames
 * (64 B with FCS) at 10 Gb/s are 14.88 Mpps, the Ethernet line rate for minimum frames.
 */

import {
  type Completion,
  DATA_CORRUPT,
  type DeviceEnv,
  type DeviceModel,
  definePlugin,
  type IoRequest,
  PAGE_SIZE,
  type Proc,
  pagesSpanned,
  Resource,
  type Static,
  Type,
} from "../../core/index.ts";
import {
  CheckBuffers,
  holdsTags,
  InFlight,
  interruptOptions,
  NOT_BOOKED,
  QueuePairs,
  RingBatcher,
} from "./queues.ts";

const options = Type.Object(
  {
    lineRateGbps: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1000,
      default: 10,
      description: "Ethernet rate: 10 GbE, the NIC of the published T7-1 figures",
    }),
    mtu: Type.Integer({
      minimum: 68,
      maximum: 9216,
      default: 1500,
      description:
        "largest frame, and the frame a stream sends when it names no size: 1500 or 9000 (jumbo)",
    }),
    wireOverheadBytes: Type.Integer({
      minimum: 0,
      default: 24,
      description:
        "per frame on the wire besides the frame: FCS 4 + preamble and start delimiter 8 + inter-frame gap 12 (IEEE 802.3)",
    }),
    ringEntries: Type.Integer({
      minimum: 8,
      maximum: 65536,
      default: 256,
      description: "descriptors per ring (each queue has a tx and an rx ring). Assumed",
    }),
    queues: Type.Integer({
      minimum: 1,
      maximum: 128,
      default: 8,
      description:
        "queue pairs (RSS), at most one per vCPU of the owning domain. Assumed (82599-class NICs have 64+; 8 a common driver default)",
    }),
    batch: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 16,
      description:
        "descriptors per prefetch or write-back DMA, at most; one such DMA in flight per ring. Assumed",
    }),
    readsInFlight: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 4,
      description: "payload DMA reads outstanding per tx queue. Assumed",
    }),
    ...interruptOptions,
  },
  { additionalProperties: false },
);

type Options = Static<typeof options>;

/** A descriptor: 16 bytes, as Intel 82599/ixgbe advanced tx and rx descriptors. */
const DESC = 16;
/** Shortest frame before the FCS: shorter ones are padded (IEEE 802.3 minimum frame 64 B). */
const MIN_FRAME = 60;

/** One queue pair's rings and limits. */
interface Queue {
  txSlots: Resource;
  rxSlots: Resource;
  reads: InFlight;
  txFetch: RingBatcher;
  txDone: RingBatcher;
  rxFetch: RingBatcher;
  rxDone: RingBatcher;
}

class Nic implements DeviceModel {
  readonly kind = "nic";
  readonly port: DeviceEnv["port"];
  readonly maxBytes: number;
  readonly frameBytes: number;
  readonly ringBytes: number;
  private readonly pairs: QueuePairs;
  private readonly queues: Queue[];
  private readonly checks: CheckBuffers;
  /** Exact (fractional) ns at which each wire is free: frames chain without rounding drift. */
  private txEnd = 0;
  private rxEnd = 0;
  private readonly nsPerByte: number;
  readonly stats = { tx: 0, rx: 0, corrupt: 0 };

  constructor(
    private readonly env: DeviceEnv,
    private readonly o: Options,
  ) {
    const { sim, port } = env;
    this.port = port;
    this.maxBytes = o.mtu;
    this.frameBytes = o.mtu;
    this.pairs = new QueuePairs(env, o.queues, o);
    const ringBytes = o.ringEntries * DESC;
    this.ringBytes = 2 * ringBytes * this.pairs.count;
    const dma = (dvma: number, bytes: number, write: boolean) => port.dma(dvma, bytes, write, 0);
    const ring = (write: boolean) =>
      new RingBatcher(sim, dma, 0, o.ringEntries, DESC, write, o.batch, port);
    this.queues = Array.from({ length: this.pairs.count }, () => ({
      txSlots: new Resource(sim, o.ringEntries),
      rxSlots: new Resource(sim, o.ringEntries),
      reads: new InFlight(sim, o.readsInFlight),
      txFetch: ring(false),
      txDone: ring(true),
      rxFetch: ring(false),
      rxDone: ring(true),
    }));
    this.checks = new CheckBuffers(Math.ceil(o.mtu / PAGE_SIZE) + 1);
    this.nsPerByte = 8 / o.lineRateGbps;
  }

  setRing(dvma: number): void {
    const per = this.o.ringEntries * DESC;
    this.queues.forEach((q, i) => {
      const tx = dvma + 2 * i * per;
      q.txFetch.setBase(tx);
      q.txDone.setBase(tx);
      q.rxFetch.setBase(tx + per);
      q.rxDone.setBase(tx + per);
    });
  }

  /** Wire time of a frame, exact ns. */
  wireNs(bytes: number): number {
    return (Math.max(bytes, MIN_FRAME) + this.o.wireOverheadBytes) * this.nsPerByte;
  }

  // One generator per request, from its ring slot to its interrupt: every event of a frame
  // resumes one level less than with a generator per stage.
  execute(req: IoRequest, dvma: number, tag: number, cpu: number, c?: Completion): Proc<number> {
    return req.op === "tx"
      ? this.send(req, dvma, tag, cpu, c)
      : this.receive(req, dvma, tag, cpu, c);
  }

  private *send(
    req: IoRequest,
    dvma: number,
    tag: number,
    cpu: number,
    c: Completion | undefined,
  ): Proc<number> {
    const { sim } = this.env;
    const qi = this.pairs.of(cpu);
    const q = this.queues[qi]!;
    yield q.txSlots.request();
    // A ring found idle moves the entry in this generator (start, wait, finish): no pass().
    let f = q.txFetch.start();
    if (f === NOT_BOOKED) f = yield* q.txFetch.pass();
    else {
      if (q.txFetch.waitNs >= 0) yield q.txFetch.waitNs;
      q.txFetch.finish();
    }
    if (f === 0) {
      yield q.reads.request();
      const out = this.checks.take();
      let read: number;
      if (this.port.issues) {
        // The read is booked now and the frame's place on the wire with it: one wait for both.
        f = this.port.issue(dvma, req.bytes, false, tag, out);
        read = this.port.doneAt;
        q.reads.endsAt(read);
      } else {
        f = yield* this.port.dma(dvma, req.bytes, false, tag, out);
        read = sim.now;
        q.reads.release();
      }
      // The frame on the wire must be the data the driver wrote.
      const same = f === 0 && holdsTags(out, tag, pagesSpanned(dvma, req.bytes));
      this.checks.give(out);
      if (f !== 0 || !same) {
        if (read > sim.now) yield read - sim.now;
        if (f === 0) {
          this.stats.corrupt++;
          f = DATA_CORRUPT;
        }
      } else {
        // The wire carries frames one at a time in the order their data comes: back to back
        // (this frame came while earlier ones were still on the wire) it starts where the last
        // one ends.
        const start = read < this.txEnd + 1 ? this.txEnd : read;
        this.txEnd = start + this.wireNs(req.bytes);
        const wait = Math.ceil(this.txEnd) - sim.now;
        if (wait > 0) yield wait;
        this.stats.tx++;
        f = q.txDone.start();
        if (f === NOT_BOOKED) f = yield* q.txDone.pass();
        else {
          if (q.txDone.waitNs >= 0) yield q.txDone.waitNs;
          q.txDone.finish();
        }
      }
    }
    q.txSlots.release();
    if (f !== 0) return f;
    yield* this.pairs.irqs[qi]!.complete(cpu, c);
    return 0;
  }

  private *receive(
    req: IoRequest,
    dvma: number,
    tag: number,
    cpu: number,
    c: Completion | undefined,
  ): Proc<number> {
    const { sim } = this.env;
    const qi = this.pairs.of(cpu);
    const q = this.queues[qi]!;
    yield q.rxSlots.request();
    // The driver posted the buffer: the NIC prefetches its descriptor before the frame comes.
    // On an idle ring the prefetch is booked and the frame's place on the wire with it: the
    // descriptor slot is held throughout, so one wait covers both.
    let f = q.rxFetch.book();
    let fetched = sim.now;
    if (f === NOT_BOOKED) f = yield* q.rxFetch.pass();
    else fetched = q.rxFetch.doneAt;
    if (f !== 0) {
      if (fetched > sim.now) yield fetched - sim.now;
    } else {
      // The frame reaches the port at a given time (a reply), or back to back at line rate.
      const wire = this.wireNs(req.bytes);
      const arrive = req.readyAt ?? Math.max(fetched, this.rxEnd) + wire;
      this.rxEnd = Math.max(this.rxEnd, arrive);
      const wait = Math.max(Math.ceil(arrive), fetched) - sim.now;
      if (wait > 0) yield wait;
      if (this.port.issues) {
        const at = sim.now;
        f = this.port.begin(dvma, req.bytes, true, tag);
        if (f !== 0 || this.port.doneAt > at) yield this.port.doneAt - at;
        this.port.end(f, dvma, req.bytes, true, at);
      } else f = yield* this.port.dma(dvma, req.bytes, true, tag);
      if (f === 0) {
        this.stats.rx++;
        f = q.rxDone.start();
        if (f === NOT_BOOKED) f = yield* q.rxDone.pass();
        else {
          if (q.rxDone.waitNs >= 0) yield q.rxDone.waitNs;
          q.rxDone.finish();
        }
      }
    }
    q.rxSlots.release();
    if (f !== 0) return f;
    yield* this.pairs.irqs[qi]!.complete(cpu, c);
    return 0;
  }
}

export default definePlugin({
  name: "nic",
  kind: "device",
  version: "2.0.0",
  description:
    "Ethernet NIC: RSS queue pairs on vCPUs, batched descriptor DMA, reads in flight, coalesced interrupts, full-duplex wire and PCIe, MTU 1500/9000",
  options,
  setup(_ctx, o) {
    return (env: DeviceEnv): DeviceModel => new Nic(env, o);
  },
});
