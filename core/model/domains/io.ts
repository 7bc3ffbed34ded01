import type { EventBus } from "../events/bus.ts";
import type { CostModel } from "../machine/cost-model.ts";
import type { DomainCpu } from "../machine/cpu.ts";
import type { DeviceDescription, MachineDescription } from "../machine/description.ts";
import type { Proc, Simulator } from "../sim/kernel.ts";
import type { Rng } from "../sim/rng.ts";
import type { DevicePort } from "./device-port.ts";
import type { GuestDmaOptions } from "./guest-dma-types.ts";
import type { GuestOs, Platform } from "./platform.ts";

/**
 * The contracts between device models, I/O paths and workloads: what `device`, `path` and
 * `workload` plugins provide. A workload asks a guest endpoint (`GuestIo`) for I/O; the path
 * decides how that I/O reaches the device (direct DMA, through the service domain, natively);
 * the device model moves the data by DMA through the IOMMU with its own timing.
 */

export type IoOp = "tx" | "rx" | "read" | "write";

export interface IoRequest {
  op: IoOp;
  bytes: number;
  /** rx only: virtual time the data reaches the device (e.g. a reply); default: as soon as the wire can deliver it. */
  readyAt?: number;
}

export interface IoResult {
  ok: boolean;
  bytes: number;
  latencyNs: number;
  /** "" when ok; otherwise why (a DMA fault, a mapping failure, a dead domain). */
  error: string;
}

/** Data moves into memory for these operations. */
export const intoMemory = (op: IoOp): boolean => op === "rx" || op === "read";

export interface DeviceEnv {
  sim: Simulator;
  port: DevicePort;
  desc: DeviceDescription;
  cost: CostModel;
  rng: Rng;
  /** The vCPUs of the domain that owns the device: its queues' interrupts run there. */
  cpu: DomainCpu;
}

/** What `DeviceModel.execute` returns when data the device read is not what the driver wrote. */
export const DATA_CORRUPT = -1;

/**
 * Driver work for one request that its completion interrupt's handler does on the handler's vCPU
 * (a NIC driver unmaps a sent buffer in its completion handler): first `work`, then, once that
 * is over, `finish`.
 */
export interface Completion {
  /** Work that cannot wait, from `at` (>= now) on; returns when it ends. */
  work(at: number): number;
  /** Then, holding vCPU `v`: the rest; returns the vCPU held afterwards. */
  finish(v: number): Proc<number>;
  /** True once the handler did both. */
  readonly done: boolean;
}

/** A device model (NIC, disk) driving one DevicePort. */
export interface DeviceModel {
  readonly kind: string;
  readonly port: DevicePort;
  /** Largest single request, bytes (a NIC's MTU frame, a disk's maximum transfer). */
  readonly maxBytes: number;
  /** A request's size when the workload names none (a NIC's MTU frame, a disk's logical block). */
  readonly frameBytes: number;
  /** Descriptor ring bytes the driver must map for this device (0 = none). */
  readonly ringBytes: number;
  /** The driver mapped the descriptor ring at `dvma`. */
  setRing(dvma: number): void;
  /**
   * Carries out one request on the data buffer the driver mapped at `dvma`, on the queue of vCPU
   * `cpu` (ANY_VCPU: the first queue): descriptor fetch, data DMA, completion write and the
   * completion interrupt (charged on that queue's vCPU of the owning domain), with the device's
   * own timing. Writes into memory carry content `tag + k` on the k-th page. Returns 0, the DMA
   * fault code that aborted it, or DATA_CORRUPT (a path reports it as `data-corrupt`). With
   * `c`, the interrupt's handler may do the driver's completion work for it (`c.done` says).
   */
  execute(req: IoRequest, dvma: number, tag: number, cpu: number, c?: Completion): Proc<number>;
  /**
   * Exact (possibly fractional) ns one request of `bytes` holds the device's physical medium in
   * its direction (a NIC's frame on the wire); absent when the device has none. A port shared by
   * SR-IOV virtual functions paces them with it.
   */
  wireNs?(bytes: number): number;
}

export type DeviceFactory = (env: DeviceEnv) => DeviceModel;

/** What a path may change before the machine boots. */
export interface PathPlan {
  md: MachineDescription;
  cost: CostModel;
  guestDma: Partial<GuestDmaOptions>;
  /** No hypervisor on this path: the IOMMU calls it makes are native driver work, not hypercalls. */
  native?: boolean;
}

export interface PathEnv {
  platform: Platform;
  /** The guest whose workload issues the I/O. */
  guest: GuestOs;
  /** The device model serving it (assigned to the guest, or to the control domain on the service path). */
  device: DeviceModel;
  cost: CostModel;
  rng: Rng;
  bus: EventBus;
}

/** A guest's I/O endpoint: one call is one whole I/O (map, device, completion, unmap). */
export interface GuestIo {
  readonly guest: number;
  readonly device: DeviceModel;
  /** Runs once, before any I/O (rings, buffer pools, handshakes). */
  setup(): Proc<boolean>;
  submit(req: IoRequest, cpu: number): Proc<IoResult>;
}

/** How a guest's I/O reaches its device: `direct` (the method), `service-domain`, `bare-metal`. */
export interface IoPath {
  readonly name: string;
  /** Adjusts machine, costs and DMA options before boot (e.g. the service path gives devices to the control domain). */
  plan?(plan: PathPlan): PathPlan;
  connect(env: PathEnv): GuestIo;
}

export interface WorkloadEnv {
  sim: Simulator;
  platform: Platform;
  guest: GuestOs;
  io: GuestIo;
  rng: Rng;
  /** Stop issuing new I/O at this virtual time. */
  untilNs: number;
  /** Virtual CPU the workload runs on. */
  cpu: number;
  /** Records a workload-level figure in ns (e.g. a request/response round trip); reported as p50/p99. */
  observe(name: string, valueNs: number): void;
  /** Records a workload-level count or ratio (e.g. nodes an allocator visited); reported as given, the last value under each name. */
  figure(name: string, value: number): void;
  /**
   * Keeps the DVMA pages in use at a moment the workload chose (e.g. its slowest map) under
   * `name`, a later call replacing it: `ranges` are [first page, pages] pairs in a window of
   * `windowPages`. The report keeps it as a picture and the HTML report draws it.
   */
  moment(name: string, m: { note: string; windowPages: number; ranges: number[] }): void;
  /** The run's event bus (e.g. an adversary reports each attack as an `attack` event). */
  bus: EventBus;
}

/** A guest workload: spawns the processes that issue I/O. */
export interface Workload {
  start(env: WorkloadEnv): void;
}
