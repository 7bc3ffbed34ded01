import type { EventBus } from "../events/bus.ts";
import { DMA_FAULT_NAMES, type DmaFaultCode, Iommu } from "../iommu/iommu.ts";
import { AddressSpace } from "../machine/address-space.ts";
import type { CostModel } from "../machine/cost-model.ts";
import type { DeviceDescription, MachineDescription } from "../machine/description.ts";
import { OWNER_HV, PAGE_SIZE, PhysMemory } from "../machine/memory.ts";
import * as extension from "./extension.ts";
import { FN, FN_NAMES } from "./functions.ts";
import * as iommu from "./iommu-services.ts";
import type { LdcChannel } from "./ldc.ts";
import { LdcMapTable } from "./ldc-map.ts";
import * as ldc from "./ldc-services.ts";
import { HV } from "./status.ts";

/** Where every domain's real addresses start: not 0, so a stray zero is never a valid RA. */
export const RA_BASE = 0x1000_0000;
/** Pages the hypervisor keeps for itself at the bottom of physical memory. */
const HV_PAGES = 64;

export interface HvDomain {
  readonly id: number;
  readonly name: string;
  readonly role: "control" | "guest";
  readonly strands: number;
  readonly mem: AddressSpace;
  alive: boolean;
}

export interface HvDevice {
  readonly id: number;
  readonly desc: DeviceDescription;
  readonly domain: number;
  readonly iommu: Iommu;
}

type DeathListener = (domain: number, reason: string) => void;

/**
 * The hypervisor: owns physical memory, each domain's RA->PA map, every root complex's IOMMU and
 * the DVMA ownership table. It is the only writer of an IOTSB. Typed calls return a status
 * (HV.EOK on success) and leave results in `ret1`/`ret2` and the call's cost in `lastCostNs`, so
 * the hot path allocates nothing. The raw 64-bit ABI (abi.ts) funnels into these same calls.
 */
export class Hypervisor {
  readonly memory: PhysMemory;
  readonly domains: HvDomain[] = [];
  readonly devices: HvDevice[] = [];
  readonly iommus = new Map<number, Iommu>();
  readonly maxTtesPerCall: number;
  ret1 = 0;
  ret2 = 0;
  lastCostNs = 0;
  /** IOTLB flush operations (one per demap call or revoke that cleared entries). */
  flushOps = 0;
  /** Hypercalls made, by caller domain. */
  readonly hcalls: number[];
  /** Entries a domain mapped over a valid TTE (no demap first): a guest error, by domain. */
  readonly remaps: number[];
  private readonly deathListeners: DeathListener[] = [];
  readonly channels: LdcChannel[] = [];
  /** The channels by id: every LDC operation looks its channel up, so this is a map, not a scan. */
  private readonly channelById = new Map<number, LdcChannel>();
  private maxChannelId = 0;
  private readonly idByName = new Map<string, number>();
  private readonly controlDomain: HvDomain;
  /** Shared-memory map tables per channel: [exported by ends[0], exported by ends[1]]. */
  readonly mapTables = new Map<number, [LdcMapTable, LdcMapTable]>();

  constructor(
    readonly md: MachineDescription,
    readonly cost: CostModel,
    readonly bus?: EventBus,
  ) {
    this.maxTtesPerCall = md.maxTtesPerCall;
    const pagesOf = (mib: number) => (mib * 1024 * 1024) / PAGE_SIZE;
    const total = HV_PAGES + md.domains.reduce((n, d) => n + pagesOf(d.memoryMiB), 0);
    this.memory = new PhysMemory(total);
    this.memory.allocate(OWNER_HV, HV_PAGES);
    md.domains.forEach((d, id) => {
      const n = pagesOf(d.memoryMiB);
      const pa = this.memory.allocate(id, n);
      const mem = new AddressSpace([{ raBase: RA_BASE, paPage: pa, npages: n }]);
      this.domains.push({ id, name: d.name, role: d.role, strands: d.strands, mem, alive: true });
      if (!this.idByName.has(d.name)) this.idByName.set(d.name, id);
    });
    this.controlDomain = this.domains.find((d) => d.role === "control")!;
    this.hcalls = md.domains.map(() => 0);
    this.remaps = md.domains.map(() => 0);
    for (const rc of md.rootComplexes) {
      const { base, size } = rc.virtualDma;
      const timing = { iotlbHitNs: cost.iotlbHitNs, iotlbMissNs: cost.iotlbMissNs };
      const io = new Iommu(
        rc.devhandle,
        base,
        size,
        rc.isolation,
        rc.iotlb.sets,
        rc.iotlb.ways,
        this.memory,
        timing,
      );
      this.iommus.set(rc.devhandle, io);
    }
    md.devices.forEach((desc, id) => {
      const domain = this.domainId(desc.domain);
      const iommu = this.iommus.get(desc.devhandle)!;
      iommu.bindRequester(desc.requesterId, domain);
      this.devices.push({ id, desc, domain, iommu });
    });
  }

  /** The control domain (the service path asks on every request: kept, not searched for). */
  get control(): HvDomain {
    return this.controlDomain;
  }

  domainId(name: string): number {
    const id = this.idByName.get(name);
    if (id === undefined) throw new RangeError(`no domain named "${name}"`);
    return id;
  }

  /** Registers a channel so a domain's death resets it; ids are unique. */
  addChannel(ch: LdcChannel): void {
    if (this.channelById.has(ch.id)) throw new RangeError(`LDC channel id ${ch.id} is taken`);
    this.channels.push(ch);
    this.channelById.set(ch.id, ch);
    this.maxChannelId = Math.max(this.maxChannelId, ch.id);
    this.mapTables.set(ch.id, [new LdcMapTable(), new LdcMapTable()]);
  }

  /** A channel id no registered channel uses. */
  freeChannelId(): number {
    return this.maxChannelId + 1;
  }

  /** The registered channel `id`, if any. */
  channel(id: number): LdcChannel | undefined {
    return this.channelById.get(id);
  }

  // ---- Services, each in its own module ----

  /** LDC shared memory: see ldc-services.ts. */
  ldcBind(domain: number, channelId: number, ra: number, len: number, perms: number): number {
    return ldc.ldcBind(this, domain, channelId, ra, len, perms);
  }
  ldcUnbind(domain: number, channelId: number, cookie: number): boolean {
    return ldc.ldcUnbind(this, domain, channelId, cookie);
  }
  ldcCopy(caller: number, channelId: number, dir: number, cookie: number, ra: number, len: number) {
    return ldc.ldcCopy(this, caller, channelId, dir, cookie, ra, len);
  }

  /** The sun4v IOMMU services: see iommu-services.ts. */
  iommuMap(
    caller: number,
    devhandle: number,
    tsbnum: number,
    index: number,
    n: number,
    attrs: number,
    listRa: number,
  ): number {
    return iommu.iommuMap(this, caller, devhandle, tsbnum, index, n, attrs, listRa);
  }
  iommuDemap(caller: number, devhandle: number, tsbnum: number, index: number, n: number): number {
    return iommu.iommuDemap(this, caller, devhandle, tsbnum, index, n);
  }
  iommuGetmap(caller: number, devhandle: number, tsbnum: number, index: number): number {
    return iommu.iommuGetmap(this, caller, devhandle, tsbnum, index);
  }
  dmaSync(caller: number, devhandle: number, ra: number, size: number, direction: number): number {
    return iommu.dmaSync(this, caller, devhandle, ra, size, direction);
  }

  /** The method's extension calls, control domain only: see extension.ts. */
  dvmaGrant(caller: number, guest: number, devhandle: number, base: number, npages: number) {
    return extension.dvmaGrant(this, caller, guest, devhandle, base, npages);
  }
  dvmaRevoke(caller: number, guest: number, devhandle: number, base: number, npages: number) {
    return extension.dvmaRevoke(this, caller, guest, devhandle, base, npages);
  }
  dvmaInfo(caller: number, devhandle: number, base: number): number {
    return extension.dvmaInfo(this, caller, devhandle, base);
  }

  // ---- Devices and domain lifecycle ----

  onDeath(fn: DeathListener): void {
    this.deathListeners.push(fn);
  }

  /** Device `device` moves `bytes` at `dvma` through its root complex's IOMMU. */
  deviceDma(
    device: number,
    dvma: number,
    bytes: number,
    write: boolean,
    tag: number,
    readOut?: Uint32Array,
  ): DmaFaultCode {
    const dev = this.devices[device]!;
    const io = dev.iommu;
    const fault = io.dma(dev.desc.requesterId, dvma, bytes, write, tag, readOut);
    if (fault !== 0 && this.bus?.wants("dma.fault")) {
      this.bus.emit("dma.fault", {
        device: dev.desc.name,
        domain: dev.domain,
        devhandle: io.devhandle,
        dvma: io.lastFaultDvma,
        reason: DMA_FAULT_NAMES[fault],
      });
    }
    return fault;
  }

  /**
   * A domain dies: its devices are reset, every TTE in DVMA it owns is cleared and flushed at
   * once (its memory is about to be reused), its memory is freed, and listeners (the broker) are
   * told so they revoke its grants. Ownership stays until then, so the ledger still matches.
   */
  killDomain(id: number, reason: string): void {
    const d = this.domains[id];
    if (d === undefined || !d.alive || d.role === "control")
      throw new RangeError(`cannot kill domain ${id}`);
    d.alive = false;
    for (const dev of this.devices)
      if (dev.domain === id) dev.iommu.bindRequester(dev.desc.requesterId, -1);
    for (const io of this.iommus.values()) {
      for (let i = 0; i < io.windowPages; i++) {
        if (io.entryOwner[i] === id && io.iotsb.clear(i)) io.iotlb.invalidate(i);
      }
    }
    this.memory.releaseAll(id);
    for (const ch of this.channels) {
      if (!ch.ends.includes(id)) continue;
      ch.reset("endpoint died", id);
      this.mapTables.set(ch.id, [new LdcMapTable(), new LdcMapTable()]); // exports die with the channel
    }
    if (this.bus?.wants("domain.state"))
      this.bus.emit("domain.state", { domain: id, name: d.name, state: "dead" });
    for (const fn of this.deathListeners) fn(id, reason);
  }

  /** A trap the model does not serve (unknown or not-offered function): answered with `status` only. */
  refuse(caller: number, fn: number, status: number): number {
    return this.finish(caller, fn, status, 0, 0, 0, 0);
  }

  /**
   * Ends every call: sets `ret1`/`ret2` (unless the call set them), the call's cost, the
   * caller's hypercall count, and emits the call's events.
   */
  finish(
    caller: number,
    fn: number,
    status: number,
    count: number,
    workNs: number,
    devhandle: number,
    index: number,
    keepRets = false,
  ): number {
    if (!keepRets) {
      this.ret1 = count;
      this.ret2 = 0;
    }
    this.lastCostNs = this.cost.hcallTrapNs + workNs;
    if (caller >= 0 && caller < this.hcalls.length) this.hcalls[caller]!++;
    const bus = this.bus;
    if (bus !== undefined) {
      if (bus.wants("hcall")) {
        bus.emit("hcall", {
          domain: caller,
          fn: FN_NAMES[fn] ?? `0x${fn.toString(16)}`,
          status,
          count,
          durNs: this.lastCostNs,
        });
      }
      if (status === HV.EOK && count > 0) {
        if (fn === FN.PCI_IOMMU_MAP && bus.wants("iommu.map"))
          bus.emit("iommu.map", { domain: caller, devhandle, index, npages: count });
        if (fn === FN.PCI_IOMMU_DEMAP && bus.wants("iommu.demap"))
          bus.emit("iommu.demap", { domain: caller, devhandle, index, npages: count });
      }
    }
    return status;
  }
}
