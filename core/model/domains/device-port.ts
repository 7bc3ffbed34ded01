import type { EventBus } from "../events/bus.ts";
import type { Hypervisor } from "../hv/hypervisor.ts";
import type { DmaFaultCode } from "../iommu/iommu.ts";
import type { CostModel } from "../machine/cost-model.ts";
import type { Proc, Signal, Simulator } from "../sim/kernel.ts";

/**
 * One direction of a PCIe link: one transfer's data at a time, granted in the order asked (FIFO).
 * A holder that knows when its data is through frees it ahead with `releaseAt`, so ending the
 * hold costs no event; a transfer that asks before then waits until that time.
 */
export class Link {
  private held = false;
  /** Free from this time on (when not held). */
  private until = 0;
  private waiters: Signal<void>[] = [];
  private head = 0;
  private waking = false;
  /** Returned for every grant made at once: a fired signal, so the asker goes on without an event. */
  private readonly granted: Signal<void>;
  private readonly wake = () => {
    this.waking = false;
    this.grantNext();
  };

  constructor(private readonly sim: Simulator) {
    this.granted = sim.signal<void>();
    this.granted.trigger();
  }

  /** A signal that fires when the caller holds the link (already fired if it is free now). */
  request(): Signal<void> {
    if (!this.held && this.head === this.waiters.length && this.sim.now >= this.until) {
      this.held = true;
      return this.granted;
    }
    const s = this.sim.signal<void>();
    this.waiters.push(s);
    if (!this.held && !this.waking) this.wakeAt(this.until);
    return s;
  }

  /** The holder is through now. */
  release(): void {
    this.releaseAt(this.sim.now);
  }

  /** The holder is through at `t` (>= now): the next transfer may start then. */
  releaseAt(t: number): void {
    if (!this.held) throw new Error("Link released while free");
    this.held = false;
    this.until = t;
    if (this.head < this.waiters.length) {
      if (t === this.sim.now) this.grantNext();
      else this.wakeAt(t);
    }
  }

  private wakeAt(t: number): void {
    this.waking = true;
    this.sim.at(t, this.wake);
  }

  private grantNext(): void {
    const s = this.waiters[this.head]!;
    this.waiters[this.head++] = undefined as unknown as Signal<void>;
    if (this.head === this.waiters.length) {
      this.waiters.length = 0;
      this.head = 0;
    }
    this.held = true;
    s.trigger();
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
  private own: readonly [LinkLane, LinkLane];
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
  useLink(own: readonly [LinkLane, LinkLane]): void {
    if (this.stats.dmas > 0) throw new Error(`${this.name}: link changed after DMA started`);
    this.own = own;
  }

  /**
   * Moves `bytes` at `dvma` (`write` = into memory). Returns 0 or the fault code; a faulted
   * transfer touched no memory.
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
    yield this.cost.dmaSetupNs + this.hv.devices[this.device]!.iommu.lastCostNs;
    if (fault === 0) {
      const dir = write ? 1 : 0;
      const own = this.own[dir];
      const shared = this.link[dir];
      yield own.request();
      // The data holds the shared link for its share of the time; the device's own rate may be
      // slower, so its own link may stay busy longer. One wait covers both.
      const dataStart = this.sim.now;
      yield shared.request();
      const sharedEnd = this.sim.now + Math.ceil(bytes / this.cost.rootComplexBytesPerNs);
      shared.releaseAt(sharedEnd);
      const end = Math.max(sharedEnd, dataStart + Math.ceil(bytes / this.cost.dmaBytesPerNs));
      if (end > this.sim.now) yield end - this.sim.now;
      own.release();
    }
    this.stats.dmas++;
    if (fault === 0 && this.bus?.wants("dma.done")) {
      this.bus.emit("dma.done", {
        device: this.name,
        domain: this.domain,
        devhandle: this.devhandle,
        dvma,
        bytes,
        write,
        durNs: this.sim.now - start,
      });
    }
    if (fault === 0) this.stats.bytes += bytes;
    else this.stats.faults++;
    return fault;
  }

  get now(): number {
    return this.sim.now;
  }
}
