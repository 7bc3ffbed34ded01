import type { EventBus } from "../events/bus.ts";
import type { Hypervisor } from "../hv/hypervisor.ts";
import type { DmaFaultCode } from "../iommu/iommu.ts";
import type { CostModel } from "../machine/cost-model.ts";
import type { Proc, Signal, Simulator } from "../sim/kernel.ts";

/**
 * One direction of a PCIe link as a timeline: each transfer books the stretch its data holds the
 * link, one transfer's data at a time, in the first free stretch long enough at or after the time
 * it can start (so the link never idles while data that fits waits). A transfer books when its
 * device issues it and the caller waits once, until its data is through: no event per step.
 */
export class Link {
  /** Booked stretches [starts[i], ends[i]), in time order, none overlapping; [head..] not yet over. */
  private starts: number[] = [];
  private ends: number[] = [];
  private head = 0;

  constructor(private readonly sim: Simulator) {}

  /** The earliest start at or after `at` of a free stretch of `ns`. */
  fit(at: number, ns: number): number {
    this.forget();
    let t = at;
    for (let i = this.head; i < this.starts.length; i++) {
      if (this.ends[i]! <= t) continue;
      if (this.starts[i]! >= t + ns) break;
      t = this.ends[i]!;
    }
    return t;
  }

  /** -1 when nothing is booked in [from, to), else the end of the first stretch booked there. */
  clash(from: number, to: number): number {
    for (let i = this.head; i < this.starts.length; i++) {
      if (this.starts[i]! >= to) return -1;
      if (this.ends[i]! > from) return this.ends[i]!;
    }
    return -1;
  }

  /** Books [from, to) (free, as fit() found it). */
  book(from: number, to: number): void {
    if (to <= from) return;
    let i = this.starts.length;
    while (i > this.head && this.starts[i - 1]! > from) i--;
    if (i === this.starts.length) {
      this.starts.push(from);
      this.ends.push(to);
    } else {
      this.starts.splice(i, 0, from);
      this.ends.splice(i, 0, to);
    }
  }

  /** Drops stretches already over. */
  private forget(): void {
    const now = this.sim.now;
    while (this.head < this.starts.length && this.ends[this.head]! <= now) this.head++;
    if (this.head === this.starts.length) {
      this.starts.length = 0;
      this.ends.length = 0;
      this.head = 0;
    } else if (this.head > 64) {
      this.starts = this.starts.slice(this.head);
      this.ends = this.ends.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * A full-duplex PCIe link: one `Link` per direction, [0] towards the device (DMA reads: memory
 * to device), [1] towards memory (DMA writes). Data in one direction never waits for the other.
 */
export type DuplexLink = readonly [Link, Link];

export const duplexLink = (sim: Simulator): DuplexLink => [new Link(sim), new Link(sim)];

/** One direction of a device's own link as its port uses it: one transfer's data at a time. */
export interface LinkLane {
  request(): Signal<void>;
  release(): void;
}

/**
 * What a device model drives: its DMA engine on the root complex. A transfer pays setup and
 * translation as latency (transfers the device keeps in flight overlap there; the device model
 * bounds how many), then its data holds the device's own link in its direction and, for its share
 * of the time, the root complex's link in that direction, which every device under it shares.
 * Every page goes through the IOMMU, so faults and IOTLB behaviour are the model's own.
 */
export class DevicePort {
  readonly name: string;
  readonly domain: number;
  readonly devhandle: number;
  /** The device's own link (dmaBytesPerNs each way). */
  private own: readonly [LinkLane | Link, LinkLane | Link];
  readonly stats = { dmas: 0, bytes: 0, faults: 0 };

  constructor(
    private readonly sim: Simulator,
    private readonly hv: Hypervisor,
    readonly device: number,
    private readonly cost: CostModel,
    /** The root complex's link, shared by its devices. */
    private readonly link: DuplexLink,
    private readonly bus?: EventBus,
  ) {
    const dev = hv.devices[device];
    if (dev === undefined) throw new RangeError(`no device ${device}`);
    this.name = dev.desc.name;
    this.domain = dev.domain;
    this.devhandle = dev.iommu.devhandle;
    this.own = duplexLink(sim);
  }

  /**
   * SR-IOV: this port is a virtual function whose data crosses its physical function's link
   * (shared with the other functions), still under its own requester ID. Before any DMA.
   */
  useLink(own: readonly [LinkLane | Link, LinkLane | Link]): void {
    if (this.stats.dmas > 0) throw new Error(`${this.name}: link changed after DMA started`);
    this.own = own;
  }

  /** True when both directions of this port's own link are timelines (`issue` may be used). */
  get issues(): boolean {
    return this.own[0] instanceof Link && this.own[1] instanceof Link;
  }

  /** When the transfer `issue` started last is through (or, faulted, known to have failed). */
  doneAt = 0;

  /**
   * Moves `bytes` at `dvma` (`write` = into memory) on a port whose links are timelines, without
   * waiting: the transfer is booked now and the caller waits until `doneAt`. Returns 0 or the
   * fault code; a faulted transfer touched no memory. `dma.done` is announced at `doneAt`.
   */
  issue(
    dvma: number,
    bytes: number,
    write: boolean,
    tag: number,
    readOut?: Uint32Array,
  ): DmaFaultCode {
    const start = this.sim.now;
    const fault = this.hv.deviceDma(this.device, dvma, bytes, write, tag, readOut);
    const latency = this.cost.dmaSetupNs + this.hv.devices[this.device]!.iommu.lastCostNs;
    this.doneAt = fault === 0 ? this.book(start + latency, bytes, write) : start + latency;
    this.count(fault, bytes);
    if (fault === 0 && this.bus?.wants("dma.done")) {
      const e = this.doneEvent(dvma, bytes, write, this.doneAt - start);
      this.sim.at(this.doneAt, () => this.bus!.emit("dma.done", e));
    }
    return fault;
  }

  /**
   * `dma` without a generator, on a port whose links are timelines: moves the data now and books
   * it, returning 0 or the fault code with its end in `doneAt`. The caller waits until then and
   * calls `end` with what it passed, as `dma` would after its wait (counted and announced then).
   */
  begin(dvma: number, bytes: number, write: boolean, tag: number, readOut?: Uint32Array) {
    const start = this.sim.now;
    const fault = this.hv.deviceDma(this.device, dvma, bytes, write, tag, readOut);
    const latency = this.cost.dmaSetupNs + this.hv.devices[this.device]!.iommu.lastCostNs;
    this.doneAt = fault === 0 ? this.book(start + latency, bytes, write) : start + latency;
    return fault;
  }

  /** After `begin` and the wait until `doneAt`: counts the transfer begun at `start`, announces it. */
  end(fault: number, dvma: number, bytes: number, write: boolean, start: number): void {
    this.count(fault, bytes);
    if (fault === 0 && this.bus?.wants("dma.done"))
      this.bus.emit("dma.done", this.doneEvent(dvma, bytes, write, this.sim.now - start));
  }

  /**
   * Moves `bytes` at `dvma` (`write` = into memory), waiting until it is through. Returns 0 or
   * the fault code; a faulted transfer touched no memory.
   */
  *dma(
    dvma: number,
    bytes: number,
    write: boolean,
    tag: number,
    readOut?: Uint32Array,
  ): Proc<DmaFaultCode> {
    const start = this.sim.now;
    const fault = this.hv.deviceDma(this.device, dvma, bytes, write, tag, readOut);
    const latency = this.cost.dmaSetupNs + this.hv.devices[this.device]!.iommu.lastCostNs;
    if (fault !== 0) yield latency;
    else {
      const own = this.own[write ? 1 : 0];
      let end: number;
      if (own instanceof Link) end = this.book(start + latency, bytes, write);
      else {
        // A link taken in turns (SR-IOV functions sharing their port's): wait for the turn.
        yield latency;
        yield own.request();
        const shared = this.link[write ? 1 : 0];
        const sharedNs = Math.ceil(bytes / this.cost.rootComplexBytesPerNs);
        const sharedStart = shared.fit(this.sim.now, sharedNs);
        shared.book(sharedStart, sharedStart + sharedNs);
        end = Math.max(
          sharedStart + sharedNs,
          this.sim.now + Math.ceil(bytes / this.cost.dmaBytesPerNs),
        );
      }
      // Data that moved holds its link at least 1 ns (bytes > 0, rates finite), so never a 0 ns wait.
      yield end - this.sim.now;
      if (!(own instanceof Link)) own.release();
    }
    this.count(fault, bytes);
    if (fault === 0 && this.bus?.wants("dma.done"))
      this.bus.emit("dma.done", this.doneEvent(dvma, bytes, write, this.sim.now - start));
    return fault;
  }

  /**
   * Books a transfer's data whose setup and translation end at `from`: it holds the device's own
   * link and, for its share of the time, the shared one (the own link may be the slower), each in
   * its first free stretch. Returns when the data is through.
   */
  private book(from: number, bytes: number, write: boolean): number {
    const own = this.own[write ? 1 : 0] as Link;
    const shared = this.link[write ? 1 : 0];
    const sharedNs = Math.ceil(bytes / this.cost.rootComplexBytesPerNs);
    const ownNs = Math.ceil(bytes / this.cost.dmaBytesPerNs);
    for (;;) {
      const ownStart = own.fit(from, ownNs);
      const sharedStart = shared.fit(ownStart, sharedNs);
      const end = Math.max(sharedStart + sharedNs, ownStart + ownNs);
      // Waiting for the shared link keeps the own link longer: it must be free that long too.
      const clash = own.clash(ownStart, end);
      if (clash < 0) {
        own.book(ownStart, end);
        shared.book(sharedStart, sharedStart + sharedNs);
        return end;
      }
      from = clash;
    }
  }

  private count(fault: number, bytes: number): void {
    this.stats.dmas++;
    if (fault === 0) this.stats.bytes += bytes;
    else this.stats.faults++;
  }

  private doneEvent(dvma: number, bytes: number, write: boolean, durNs: number) {
    return {
      device: this.name,
      domain: this.domain,
      devhandle: this.devhandle,
      dvma,
      bytes,
      write,
      durNs,
    };
  }
}
