import type { EventBus } from "../events/bus.ts";
import type { Hypervisor } from "../hv/hypervisor.ts";
import type { DmaFaultCode } from "../iommu/iommu.ts";
import type { CostModel } from "../machine/cost-model.ts";
import type { Proc, Signal, Simulator } from "../sim/kernel.ts";
import { Resource } from "../sim/resource.ts";

/**
 * A full-duplex PCIe link: one resource per direction, [0] towards the device (DMA reads: memory
 * to device), [1] towards memory (DMA writes). Data in one direction never waits for the other.
 */
export type DuplexLink = readonly [Resource, Resource];

export const duplexLink = (sim: Simulator): DuplexLink => [
  new Resource(sim, 1),
  new Resource(sim, 1),
];

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
      // The data holds the shared link for its share of the time; the device's own rate may be slower.
      const dataStart = this.sim.now;
      yield shared.request();
      yield Math.ceil(bytes / this.cost.rootComplexBytesPerNs);
      shared.release();
      const rest = Math.ceil(bytes / this.cost.dmaBytesPerNs) - (this.sim.now - dataStart);
      if (rest > 0) yield rest;
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
