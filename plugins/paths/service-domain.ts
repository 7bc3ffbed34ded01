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
  TimedSignal,
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

/** A decoded request packet. */
interface VioRequest {
  op: IoOp;
  id: number;
  cookie: number;
  bytes: number;
  tag: number;
  readyAt: number;
}

/** What a backend thread's receive hold did: its buffer, a reply status so far, the hold's ns. */
interface Received {
  buf: number;
  status: number;
  ns: number;
}

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
  /** Requests waiting for their reply, by id: each lane's wake-up, set to when its reply lands. */
  private readonly pending = new Map<number, TimedSignal>();
  /** Replies read from the channel and not yet taken by their lane, by id. */
  private readonly replies = new Map<number, Uint8Array>();
  /** Backend threads: how many, how many busy (packets waiting for one stay in the channel). */
  private readonly workers: number;
  private busy = 0;
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
    // The guest's end is polled and never armed: a lane reads its reply when it wakes.
    this.channel.onReceive(guest.id, (pkt) => this.keep(pkt), undefined, true);
    this.channel.onReceive(
      hv.control.id,
      (pkt) => this.arrive(pkt),
      () => this.failAll(),
      true,
    );
    this.channel.arm(hv.control.id, true); // every backend thread is free
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
    const reply = new TimedSignal(sim);
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
    let answer: Uint8Array | null = null;
    if (st === HV.EOK) {
      yield reply;
      for (let p = this.channel.poll(guest.id); p !== null; p = this.channel.poll(guest.id))
        this.keep(p);
      answer = this.replies.get(id) ?? null;
      this.replies.delete(id);
    }
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
   * A packet landed while a backend thread is free: the thread takes it now. Busy threads leave
   * packets in the channel's queue; the one that finishes reads the next itself (handOver).
   */
  private arrive(pkt: Uint8Array): void {
    const r = this.decode(pkt);
    if (r === null) {
      this.refuse(pkt);
      return;
    }
    if (++this.busy === this.workers) this.channel.arm(this.env.platform.hv.control.id, false);
    this.start(r);
  }

  /** A backend thread is through with its part of a request: to the next packet read, or idle. */
  private handOver(): void {
    const control = this.env.platform.hv.control.id;
    for (let pkt = this.channel.poll(control); pkt !== null; pkt = this.channel.poll(control)) {
      const r = this.decode(pkt);
      if (r === null) this.refuse(pkt);
      else {
        this.start(r);
        return;
      }
    }
    if (this.busy-- === this.workers) this.channel.arm(control, true);
  }

  /**
   * A packet that does not decode (unknown op, a number that would be rounded, a length its
   * buffer cannot hold) is refused, not guessed at: no thread, no strand, no copy, no mapping.
   */
  private refuse(pkt: Uint8Array): void {
    this.stats.refused++;
    const bad = REPLY_ERRORS.indexOf("bad-request");
    this.reply(vioPacket(0x50, bad, packetId(pkt), 0, 0, 0));
  }

  /**
   * A backend thread starts on a request: with a strand free now it takes it here, does the copy
   * in, and the thread's process first runs when the strand's one hold (receive, request work,
   * copy) ends; else the process waits for a strand itself.
   */
  private start(r: VioRequest): void {
    const { sim } = this.env.platform;
    const v = this.env.platform.controlCpu.tryTake(ANY_VCPU);
    if (v < 0) sim.spawn(this.serve(r, -1, null), "vio-backend");
    else {
      const got = this.receive(r);
      sim.spawn(this.serve(r, v, got), "vio-backend", got.ns);
    }
  }

  /**
   * On the strand the thread holds: receive the packet, the request's own work, and for data
   * going to the device the LDC_COPY into the backend's buffer. The copy's effect is applied
   * now; the hold (`ns`) covers all three.
   */
  private receive(r: VioRequest): Received {
    const { cost } = this.env;
    const buf = this.backendPool.take();
    let ns = cost.ldcRecvCpuNs + cost.backendRequestCpuNs;
    let status = 0;
    if (!intoMemory(r.op)) {
      status = this.copy(COPY_IN, r.cookie, buf, r.bytes);
      ns += this.env.platform.hv.lastCostNs;
    }
    return { buf, status, ns };
  }

  /**
   * The control domain's backend serving one request on a backend thread taken for it: `held` is
   * the strand of the receive hold that just ended (`received`), or -1 and null: take one first.
   */
  private *serve(r: VioRequest, held: number, received: Received | null): Proc<void> {
    const { platform, cost } = this.env;
    const cpu = platform.controlCpu;
    const dma = this.backendDma!;
    const { op, id, cookie, bytes, tag, readyAt } = r;
    // The port's service thread runs on a control-domain strand: receive, copy in, map (the DMA
    // API takes its own strand). The device then works on its own; completion (unmap, copy out,
    // reply) takes a strand again.
    let v = held;
    let got = received;
    if (got === null) {
      v = yield* cpu.take(ANY_VCPU);
      got = this.receive(r);
      yield got.ns;
    }
    const buf = got.buf;
    let status = got.status;
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
      const unmap = fault === 0 && !intoMemory(op) ? dma.completion(m) : null;
      if (unmap !== null) {
        // Data sent: on one strand the strict unmap's demap and the reply's send work, one hold
        // (the thread goes on, as it would); the reply leaves when it ends, then the DVMA goes
        // back to the policy.
        v = yield* cpu.take(ANY_VCPU);
        yield unmap.work(platform.sim.now) + cost.ldcSendCpuNs - platform.sim.now;
        this.backendPool.give(buf);
        this.reply(vioPacket(0x50, 0, id, cookie, bytes, tag));
        cpu.free(yield* unmap.finish(v));
        return;
      }
      yield* dma.unmapSingle(m, ANY_VCPU);
      if (fault !== 0)
        status = fault === DATA_CORRUPT ? REPLY_ERRORS.indexOf("data-corrupt") : fault;
      else if (intoMemory(op)) {
        v = yield* cpu.take(ANY_VCPU);
        status = this.copy(COPY_OUT, cookie, buf, bytes);
        yield platform.hv.lastCostNs;
        cpu.free(v);
      }
    }
    this.backendPool.give(buf);
    yield* cpu.run(ANY_VCPU, cost.ldcSendCpuNs);
    this.reply(vioPacket(0x50, status, id, cookie, bytes, tag));
  }

  /** A request packet's fields, or null when it does not decode. */
  private decode(pkt: Uint8Array): VioRequest | null {
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

  /** LDC_COPY between the guest's exported buffer and the backend's; returns a reply status (its cost is hv.lastCostNs). */
  private copy(dir: number, cookie: number, buf: number, bytes: number): number {
    const { hv } = this.env.platform;
    const st = hv.ldcCopy(hv.control.id, this.channel.id, dir, cookie, buf, bytes);
    return st === HV.EOK ? 0 : REPLY_ERRORS.indexOf("copy-failed");
  }

  /** A reply read from the channel waits for its lane (one nobody waits for is dropped). */
  private keep(pkt: Uint8Array): void {
    const id = packetId(pkt);
    if (this.pending.has(id)) this.replies.set(id, pkt);
  }

  /** Sends a reply; its lane wakes when it lands, with no delivery event in between. */
  private reply(pkt: Uint8Array): void {
    this.channel.send(this.env.platform.hv.control.id, pkt);
    const at = this.channel.lastLanding;
    const lane = this.pending.get(packetId(pkt));
    if (at >= 0 && lane !== undefined && !lane.triggered && lane.dueAt < 0) lane.fireAt(at);
  }

  /** The channel was reset: lanes not yet woken wake now and find no reply (woken ones, when due). */
  private failAll(): void {
    for (const s of this.pending.values()) if (!s.triggered && s.dueAt < 0) s.trigger();
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
