/**
 * nic: an Ethernet NIC with tx and rx descriptor rings. Per packet it fetches a 16-byte
 * descriptor, moves the frame by DMA, writes the descriptor back and raises an interrupt; the
 * wire is serialised at line rate in each direction. Every DMA goes through the IOMMU.
 */

import {
  type DeviceEnv,
  type DeviceModel,
  definePlugin,
  type IoOp,
  type IoRequest,
  PAGE_SIZE,
  type Proc,
  Resource,
  Type,
} from "../../core/index.ts";

const options = Type.Object(
  {
    lineRateGbps: Type.Number({ exclusiveMinimum: 0, maximum: 1000, default: 10 }),
    mtu: Type.Integer({
      minimum: 68,
      maximum: 9216,
      default: 1500,
      description: "1500 or 9000 (jumbo)",
    }),
    wireOverheadBytes: Type.Integer({
      minimum: 0,
      default: 38,
      description:
        "preamble 8 + Ethernet header 14 + FCS 4 + inter-frame gap 12 (1538 B on the wire at MTU 1500)",
    }),
    ringEntries: Type.Integer({ minimum: 8, maximum: 65536, default: 256 }),
    interruptNs: Type.Integer({
      minimum: 0,
      default: 2000,
      description: "interrupt delivery to the driver. Assumed",
    }),
    coalesceNs: Type.Integer({
      minimum: 0,
      default: 0,
      description: "interrupt coalescing delay (0 = one interrupt per packet)",
    }),
  },
  { additionalProperties: false },
);

const DESC = 16;

class Nic implements DeviceModel {
  readonly kind = "nic";
  readonly port: DeviceEnv["port"];
  readonly maxBytes: number;
  readonly ringBytes: number;
  private ring = -1;
  private txSlot = 0;
  private rxSlot = 0;
  private readonly txWire: Resource;
  private rxFree = 0; // time the rx wire can deliver the next frame
  private readonly check = new Uint32Array(8);
  readonly stats = { tx: 0, rx: 0, corrupt: 0 };

  constructor(
    private readonly env: DeviceEnv,
    private readonly o: typeof options.static,
  ) {
    this.port = env.port;
    this.maxBytes = o.mtu;
    this.ringBytes = 2 * o.ringEntries * DESC;
    this.txWire = new Resource(env.sim, 1);
  }

  setRing(dvma: number): void {
    this.ring = dvma;
  }

  wireNs(_op: IoOp, bytes: number): number {
    return this.frameNs(bytes);
  }

  private frameNs(bytes: number): number {
    return Math.ceil(((bytes + this.o.wireOverheadBytes) * 8) / this.o.lineRateGbps);
  }

  *execute(req: IoRequest, dvma: number, tag: number): Proc<number> {
    const { sim } = this.env;
    const tx = req.op === "tx";
    const slot = tx
      ? this.txSlot++ % this.o.ringEntries
      : this.o.ringEntries + (this.rxSlot++ % this.o.ringEntries);
    const desc = this.ring + slot * DESC;
    if (!tx) {
      // The frame must reach the port first: at a given time (a reply), or back to back at line rate.
      const arrive = req.readyAt ?? Math.max(sim.now, this.rxFree) + this.frameNs(req.bytes);
      this.rxFree = Math.max(this.rxFree, arrive);
      if (arrive > sim.now) yield arrive - sim.now;
    }
    let f = yield* this.port.dma(desc, DESC, false, 0);
    if (f !== 0) return f;
    const pages = Math.ceil(req.bytes / PAGE_SIZE) + 1;
    const out = tx ? (this.check.length >= pages ? this.check : new Uint32Array(pages)) : undefined;
    f = yield* this.port.dma(dvma, req.bytes, !tx, tag, out);
    if (f !== 0) return f;
    if (tx) {
      // The frame on the wire must be the data the driver wrote.
      const n = Math.floor(((dvma % PAGE_SIZE) + req.bytes - 1) / PAGE_SIZE) + 1;
      for (let k = 0; k < n; k++) {
        if (out![k] !== (tag + k) >>> 0) {
          this.stats.corrupt++;
          return -1;
        }
      }
      yield this.txWire.request();
      yield this.frameNs(req.bytes);
      this.txWire.release();
      this.stats.tx++;
    } else this.stats.rx++;
    f = yield* this.port.dma(desc, DESC, true, 0);
    if (f !== 0) return f;
    yield this.o.interruptNs + this.o.coalesceNs;
    return 0;
  }
}

export default definePlugin({
  name: "nic",
  kind: "device",
  version: "1.0.0",
  description:
    "Ethernet NIC: tx/rx descriptor rings, line rate, MTU 1500/9000, interrupt coalescing",
  options,
  setup(_ctx, o) {
    return (env: DeviceEnv): DeviceModel => new Nic(env, o);
  },
});
