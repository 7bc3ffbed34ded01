/**
 * service-domain: the classic sun4v virtual I/O path the method replaces. Devices belong to the
 * control domain; a guest's virtual device (vnet/vdisk) exports its buffer through the LDC map
 * table and sends a request over an LDC channel; the control domain's backend (vsw/vds) copies
 * the data with LDC_COPY, maps its own buffer through the IOMMU, drives the device, copies results
 * back and replies. Every step's CPU time is charged to the domain that does it.
 */

import {
  ANY_VCPU,
  DATA_CORRUPT,
  type DeviceModel,
  DMA_FAULT_NAMES,
  definePlugin,
  type GuestDmaApi,
  type GuestIo,
  HV,
  type IoOp,
  type IoPath,
  type IoRequest,
  type IoResult,
  intoMemory,
  isDmaFailure,
  LDC_PACKET_SIZE,
  LdcChannel,
  type PathEnv,
  type PathPlan,
  type Proc,
  type Signal,
  Type,
} from "../../core/index.ts";
import { BufferPool, fillData, holdsData, TagSource } from "./guest-buffers.ts";

const options = Type.Object(
  {
    queueEntries: Type.Integer({
      minimum: 1,
      maximum: 65536,
      default: 128,
      description: "LDC queue of each virtual device",
    }),
    workers: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 1,
      description: "backend threads per virtual device (vsw/vds serve a port on one)",
    }),
  },
  { additionalProperties: false },
);

/** LDC_COPY directions and map-table permissions (Linux hypervisor.h). */
const COPY_IN = 0;
const COPY_OUT = 1;
const MEM_RW = 3;
const OPS: readonly IoOp[] = ["tx", "rx", "read", "write"];

/**
 * Virtual I/O packet: [0] 0x40 + op (request) or 0x50 (reply), [1] status, [4..8) id,
 * [8..16) cookie, [16..20) bytes, [20..24) the data's content tag (what the model's pages carry).
 */
function vioPacket(
  kind: number,
  status: number,
  id: number,
  cookie: number,
  bytes: number,
  tag: number,
  readyAt = 0,
): Uint8Array {
  const p = new Uint8Array(LDC_PACKET_SIZE);
  const v = new DataView(p.buffer);
  v.setUint8(0, kind);
  v.setUint8(1, status);
  v.setUint32(4, id);
  v.setBigUint64(8, BigInt(cookie));
  v.setUint32(16, bytes);
  v.setUint32(20, tag);
  v.setBigUint64(24, BigInt(readyAt));
  return p;
}

const vioLabel = (p: Uint8Array) => ({
  msg: p[0]! >= 0x50 ? "VIO_REPLY" : `VIO_${OPS[p[0]! - 0x40]?.toUpperCase() ?? "?"}`,
  id: new DataView(p.buffer, p.byteOffset).getUint32(4),
});

/** Status codes in a reply: 0 ok, then DMA fault codes, then path errors. */
const REPLY_ERRORS = [
  ...DMA_FAULT_NAMES,
  "copy-failed",
  "map-failed",
  "data-corrupt",
  "bad-request",
];

/** A packet's request id. */
const packetId = (p: Uint8Array): number => new DataView(p.buffer).getUint32(4);

/** A 64-bit packet field as a number, or -1 if above 2^53 - 1 (it would be rounded). */
const safeNumber = (x: bigint): number => (x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : -1);

class ServiceIo implements GuestIo {
  readonly guest: number;
  readonly device: DeviceModel;
  private readonly channel: LdcChannel;
  private readonly pool: BufferPool;
  private readonly backendPool: BufferPool;
  private readonly tags: TagSource;
  private readonly pending = new Map<number, Signal<Uint8Array | null>>();
  /** Backend threads: how many, how many busy, and the packets waiting for one (oldest first). */
  private readonly workers: number;
  private busy = 0;
  private readonly queue: Uint8Array[] = [];
  private queueHead = 0;
  private nextId = 0;
  private backendDma: GuestDmaApi | undefined;
  /** Requests the backend refused undecoded (answered bad-request before any work). */
  readonly stats = { refused: 0 };

  constructor(
    private readonly env: PathEnv,
    o: typeof options.static,
  ) {
    const { platform, guest, device, cost, rng, bus } = env;
    const { sim, hv } = platform;
    this.guest = guest.id;
    this.device = device;
    this.channel = new LdcChannel(
      sim,
      hv.freeChannelId(),
      hv.control.id,
      guest.id,
      {
        queueEntries: o.queueEntries,
        latencyNs: cost.ldcLatencyNs,
        lossRate: 0,
        label: vioLabel,
        hcalls: hv.hcalls,
      },
      rng,
      bus,
    );
    hv.addChannel(this.channel);
    this.channel.onReceive(guest.id, (pkt) => this.pending.get(packetId(pkt))?.trigger(pkt));
    this.channel.onReceive(
      hv.control.id,
      (pkt) => this.arrive(pkt),
      () => this.failAll(),
    );
    this.pool = new BufferPool(guest.memory, device.maxBytes);
    this.backendPool = new BufferPool(platform.control.memory, device.maxBytes);
    this.tags = new TagSource(guest.id);
    this.workers = o.workers;
  }

  *setup(): Proc<boolean> {
    this.backendDma = this.env.platform.control.dma.get(this.device.port.devhandle);
    if (this.backendDma === undefined) return false;
    if (this.device.ringBytes === 0) return true;
    const ring = yield* this.backendDma.allocCoherent(this.device.ringBytes);
    if (isDmaFailure(ring)) return false;
    this.device.setRing(ring.mapping.dvma);
    return true;
  }

  *submit(req: IoRequest, cpu: number): Proc<IoResult> {
    const { platform, guest, cost } = this.env;
    const { sim, hv } = platform;
    const t0 = sim.now;
    const fail = (error: string): IoResult => ({
      ok: false,
      bytes: 0,
      latencyNs: sim.now - t0,
      error,
    });
    if (!(req.bytes > 0 && req.bytes <= this.device.maxBytes)) return fail("bad-request-size");
    const ra = this.pool.take();
    if (ra < 0) return fail("out-of-memory");
    const tag = this.tags.next();
    if (!intoMemory(req.op)) fillData(hv, guest.id, ra, req.bytes, tag);
    const cookie = hv.ldcBind(guest.id, this.channel.id, ra, req.bytes, MEM_RW);
    if (cookie < 0) {
      this.pool.give(ra);
      return fail("ldc-map-table-full");
    }
    const id = ++this.nextId;
    const reply = sim.signal<Uint8Array | null>();
    this.pending.set(id, reply);
    const pkt = vioPacket(
      0x40 + OPS.indexOf(req.op),
      0,
      id,
      cookie,
      req.bytes,
      tag,
      req.readyAt ?? 0,
    );
    let st = this.channel.send(guest.id, pkt);
    while (st === HV.EWOULDBLOCK) {
      yield cost.ldcLatencyNs;
      st = this.channel.send(guest.id, pkt);
    }
    yield* guest.cpu.run(cpu, cost.vioClientCpuNs + cost.ldcSendCpuNs);
    const answer: Uint8Array | null = st === HV.EOK ? yield reply : null;
    this.pending.delete(id);
    yield* guest.cpu.run(cpu, cost.ldcRecvCpuNs);
    hv.ldcUnbind(guest.id, this.channel.id, cookie);
    let error = answer === null ? "channel-reset" : (REPLY_ERRORS[answer[1]!] ?? "backend-error");
    if (answer !== null && answer[1] === 0) error = "";
    if (error === "" && intoMemory(req.op) && !holdsData(hv, guest.id, ra, req.bytes, tag))
      error = "data-corrupt";
    this.pool.give(ra);
    return { ok: error === "", bytes: req.bytes, latencyNs: sim.now - t0, error };
  }

  /**
   * A packet reached the backend: a free thread takes it now, else it waits its turn and the
   * thread that finishes hands itself over (starting the next packet's process then, with no
   * process waiting meanwhile).
   */
  private arrive(pkt: Uint8Array): void {
    if (this.decode(pkt) === null) this.env.platform.sim.spawn(this.serve(pkt), "vio-backend");
    else if (this.busy < this.workers && this.queueHead === this.queue.length) {
      this.busy++;
      this.env.platform.sim.spawn(this.serve(pkt), "vio-backend");
    } else this.queue.push(pkt);
  }

  /** A backend thread is through with its part of a request: to the next packet, or idle. */
  private handOver(): void {
    if (this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as unknown as Uint8Array;
      if (this.queueHead === this.queue.length) {
        this.queue.length = 0;
        this.queueHead = 0;
      }
      this.env.platform.sim.spawn(this.serve(next), "vio-backend");
    } else this.busy--;
  }

  /** The control domain's backend serving one request, on a backend thread taken for it. */
  private *serve(pkt: Uint8Array): Proc<void> {
    const { platform, cost } = this.env;
    const { hv } = platform;
    const control = hv.control.id;
    const cpu = platform.controlCpu;
    const dma = this.backendDma!;
    const r = this.decode(pkt);
    if (r === null) {
      // A packet that does not decode (unknown op, a number that would be rounded, a length its
      // buffer cannot hold) is refused, not guessed at: no thread, no strand, no copy, no mapping.
      this.stats.refused++;
      const bad = REPLY_ERRORS.indexOf("bad-request");
      this.channel.send(control, vioPacket(0x50, bad, packetId(pkt), 0, 0, 0));
      return;
    }
    const { op, id, cookie, bytes, tag, readyAt } = r;
    // The port's service thread runs on a control-domain strand: receive, copy in, map (the DMA
    // API takes its own strand). The device then works on its own; completion (unmap, copy out,
    // reply) takes a strand again.
    let v = yield* cpu.take(ANY_VCPU);
    yield cost.ldcRecvCpuNs + cost.backendRequestCpuNs;
    const buf = this.backendPool.take();
    let status = 0;
    if (!intoMemory(op)) status = yield* this.copy(COPY_IN, cookie, buf, bytes);
    cpu.free(v);
    const m =
      status === 0
        ? yield* dma.mapSingle(buf, bytes, intoMemory(op) ? "from-device" : "to-device", ANY_VCPU)
        : undefined;
    this.handOver();
    // A failed copy or mapping is answered like any other: the strand is taken again for the reply.
    if (m !== undefined && isDmaFailure(m)) {
      status = REPLY_ERRORS.indexOf("map-failed");
    }
    if (m !== undefined && !isDmaFailure(m)) {
      const req: IoRequest = readyAt > 0 ? { op, bytes, readyAt } : { op, bytes };
      const fault = yield* this.device.execute(req, m.dvma, tag, ANY_VCPU);
      yield* dma.unmapSingle(m, ANY_VCPU);
      if (fault !== 0)
        status = fault === DATA_CORRUPT ? REPLY_ERRORS.indexOf("data-corrupt") : fault;
      else if (intoMemory(op)) {
        v = yield* cpu.take(ANY_VCPU);
        status = yield* this.copy(COPY_OUT, cookie, buf, bytes);
        cpu.free(v);
      }
    }
    this.backendPool.give(buf);
    yield* cpu.run(ANY_VCPU, cost.ldcSendCpuNs);
    this.channel.send(control, vioPacket(0x50, status, id, cookie, bytes, tag));
  }

  /** A request packet's fields, or null when it does not decode. */
  private decode(pkt: Uint8Array) {
    const view = new DataView(pkt.buffer);
    const op = OPS[pkt[0]! - 0x40];
    const cookie = safeNumber(view.getBigUint64(8));
    const bytes = view.getUint32(16);
    const readyAt = safeNumber(view.getBigUint64(24));
    if (
      op === undefined ||
      cookie < 0 ||
      readyAt < 0 ||
      !(bytes > 0 && bytes <= this.device.maxBytes)
    )
      return null;
    return { op, id: packetId(pkt), cookie, bytes, tag: view.getUint32(20), readyAt };
  }

  /** LDC_COPY between the guest's exported buffer and the backend's, on the strand the caller holds; returns a reply status. */
  private *copy(dir: number, cookie: number, buf: number, bytes: number): Proc<number> {
    const { hv } = this.env.platform;
    const st = hv.ldcCopy(hv.control.id, this.channel.id, dir, cookie, buf, bytes);
    yield hv.lastCostNs;
    return st === HV.EOK ? 0 : REPLY_ERRORS.indexOf("copy-failed");
  }

  private failAll(): void {
    for (const s of this.pending.values()) if (!s.triggered) s.trigger(null);
  }
}

export default definePlugin({
  name: "service-domain",
  kind: "path",
  version: "1.0.0",
  description:
    "Classic virtual I/O: guest -> LDC -> control-domain backend (copy + its own DMA) -> device",
  options,
  setup(_ctx, o): IoPath {
    return {
      name: "service-domain",
      plan(p: PathPlan): PathPlan {
        // Physical devices belong to the control domain; guests reach them only through it.
        const control = p.md.domains.find((d) => d.role === "control")!.name;
        return {
          ...p,
          md: { ...p.md, devices: p.md.devices.map((d) => ({ ...d, domain: control })) },
        };
      },
      connect: (env) => new ServiceIo(env, o),
    };
  },
});
