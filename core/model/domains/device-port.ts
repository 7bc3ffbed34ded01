import type { EventBus } from "../events/bus.ts";
import type { Hypervisor } from "../hv/hypervisor.ts";
import type { DmaFaultCode } from "../iommu/iommu.ts";
import type { CostModel } from "../machine/cost-model.ts";
import type { Proc, Signal, Simulator } from "../sim/kernel.ts";
import { Resource } from "../sim/resource.ts";

/** What serves a port's transfers one at a time: its own engine, or one it shares. */
export interface DmaEngine {
  request(): Signal<void>;
  release(): void;
  readonly queued: number;
}

/**
 * What a device model drives: its DMA engine on the root complex. Transfers are serialised on the
 * engine and take setup + translation + data time; the data also crosses the root complex's
 * link, which every device under it shares. Every page goes through the IOMMU, so faults and
 * IOTLB behaviour are the model's own.
 */
export class DevicePort {
  readonly name: string;
  readonly domain: number;
  readonly devhandle: number;
  private engine: DmaEngine;
  readonly stats = { dmas: 0, bytes: 0, faults: 0, busyNs: 0 };

  constructor(
    private readonly sim: Simulator,
    private readonly hv: Hypervisor,
    readonly device: number,
    private readonly cost: CostModel,
    /** The root complex's link, shared by its devices. */
    private readonly link: Resource,
    private readonly bus?: EventBus,
  ) {
    const dev = hv.devices[device];
    if (dev === undefined) throw new RangeError(`no device ${device}`);
    this.name = dev.desc.name;
    this.domain = dev.domain;
    this.devhandle = dev.iommu.devhandle;
    this.engine = new Resource(sim, 1);
  }

  /**
   * SR-IOV: this port is a virtual function whose transfers run on its physical function's
   * engine (shared with the other functions), still under its own requester ID. Before any DMA.
   */
  useEngine(engine: DmaEngine): void {
    if (this.stats.dmas > 0 || this.engine.queued > 0)
      throw new Error(`${this.name}: engine changed after DMA started`);
    this.engine = engine;
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
    yield this.engine.request();
    const start = this.sim.now;
    const fault = this.hv.deviceDma(this.device, dvma, bytes, write, tag, readOut);
    yield this.cost.dmaSetupNs + this.hv.devices[this.device]!.iommu.lastCostNs;
    if (fault === 0) {
      // The data holds the shared link for its share of the time; the device's own rate may be slower.
      const dataStart = this.sim.now;
      yield this.link.request();
      yield Math.ceil(bytes / this.cost.rootComplexBytesPerNs);
      this.link.release();
      const rest = Math.ceil(bytes / this.cost.dmaBytesPerNs) - (this.sim.now - dataStart);
      if (rest > 0) yield rest;
    }
    this.engine.release();
    this.stats.dmas++;
    this.stats.busyNs += this.sim.now - start;
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

  /** Queued transfers waiting for the engine. */
  get backlog(): number {
    return this.engine.queued;
  }

  get now(): number {
    return this.sim.now;
  }
}
