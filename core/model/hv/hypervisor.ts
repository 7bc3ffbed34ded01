import type { EventBus } from "../events/bus.ts";
import { DMA_FAULT_NAMES, type DmaFaultCode, Iommu } from "../iommu/iommu.ts";
import { IO_ATTR_MASK, IO_ATTR_READ, IO_ATTR_WRITE } from "../iommu/iotsb.ts";
import { AddressSpace } from "../machine/address-space.ts";
import type { CostModel } from "../machine/cost-model.ts";
import type { DeviceDescription, MachineDescription } from "../machine/description.ts";
import { OWNER_HV, PAGE_SIZE, PhysMemory } from "../machine/memory.ts";
import type { LdcChannel } from "./ldc.ts";
import { LDC_COPY_IN, LDC_COPY_OUT, LDC_MEM_READ, LDC_MEM_WRITE, LdcMapTable } from "./ldc-map.ts";
import { FN, FN_NAMES, HV, SYNC_FOR_CPU, SYNC_FOR_DEVICE } from "./status.ts";

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
  private readonly deathListeners: DeathListener[] = [];
  readonly channels: LdcChannel[] = [];
  /** Shared-memory map tables per channel: [exported by ends[0], exported by ends[1]]. */
  private readonly mapTables = new Map<number, [LdcMapTable, LdcMapTable]>();

  constructor(
    readonly md: MachineDescription,
    readonly cost: CostModel,
    private readonly bus?: EventBus,
  ) {
    this.maxTtesPerCall = md.maxTtesPerCall;
    const pagesOf = (mib: number) => (mib * 1024 * 1024) / PAGE_SIZE;
    const total = HV_PAGES + md.domains.reduce((n, d) => n + pagesOf(d.memoryMiB), 0);
    this.memory = new PhysMemory(total);
    this.memory.owner.fill(OWNER_HV, 0, HV_PAGES);
    md.domains.forEach((d, id) => {
      const n = pagesOf(d.memoryMiB);
      const pa = this.memory.allocate(id, n);
      const mem = new AddressSpace([{ raBase: RA_BASE, paPage: pa, npages: n }]);
      this.domains.push({ id, name: d.name, role: d.role, strands: d.strands, mem, alive: true });
    });
    this.hcalls = md.domains.map(() => 0);
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

  get control(): HvDomain {
    return this.domains.find((d) => d.role === "control")!;
  }

  domainId(name: string): number {
    const d = this.domains.find((x) => x.name === name);
    if (!d) throw new RangeError(`no domain named "${name}"`);
    return d.id;
  }

  /** Registers a channel so a domain's death resets it; ids are unique. */
  addChannel(ch: LdcChannel): void {
    if (this.channels.some((c) => c.id === ch.id))
      throw new RangeError(`LDC channel id ${ch.id} is taken`);
    this.channels.push(ch);
    this.mapTables.set(ch.id, [new LdcMapTable(), new LdcMapTable()]);
  }

  /** A channel id no registered channel uses. */
  freeChannelId(): number {
    return this.channels.reduce((m, c) => Math.max(m, c.id), 0) + 1;
  }

  // ---- LDC shared memory ----

  /**
   * `domain` exports [ra, ra + len) of its memory to the peer of `channelId` (its map table lives
   * in its own memory, so this is no hypercall). Returns a cookie, or -1 (not its memory, not an
   * endpoint, table full).
   */
  ldcBind(domain: number, channelId: number, ra: number, len: number, perms: number): number {
    const table = this.exportTable(domain, channelId);
    if (table === undefined || !this.domains[domain]!.mem.contains(ra, len)) return -1;
    return table.bind(ra, len, perms);
  }

  ldcUnbind(domain: number, channelId: number, cookie: number): boolean {
    return this.exportTable(domain, channelId)?.unbind(cookie) ?? false;
  }

  /**
   * LDC_COPY: copies `len` bytes between the caller's memory at `localRa` and what the channel's
   * peer exported under `cookie` (COPY_IN: from the peer, needs READ; COPY_OUT: to the peer, needs
   * WRITE). ret1 = bytes copied. Contents move page by page.
   */
  ldcCopy(
    caller: number,
    channelId: number,
    dir: number,
    cookie: number,
    localRa: number,
    len: number,
  ): number {
    const ch = this.channels.find((c) => c.id === channelId);
    let status: number = HV.EOK;
    let copied = 0;
    if (!this.domains[caller]?.alive) status = HV.ENOACCESS;
    else if (ch === undefined || !ch.ends.includes(caller) || !ch.isUp) status = HV.ECHANNEL;
    else if (dir !== LDC_COPY_IN && dir !== LDC_COPY_OUT) status = HV.EINVAL;
    else {
      const peer = ch.peerOf(caller);
      const exp = this.exportTable(peer, channelId)?.lookup(cookie);
      const need = dir === LDC_COPY_IN ? LDC_MEM_READ : LDC_MEM_WRITE;
      if (exp === undefined || !(len > 0) || len > exp.len) status = HV.EINVAL;
      else if ((exp.perms & need) === 0) status = HV.ENOACCESS;
      else if (!this.domains[caller]!.mem.contains(localRa, len)) status = HV.ENORADDR;
      else {
        const remote = this.domains[peer]!.mem;
        const local = this.domains[caller]!.mem;
        const content = this.memory.content;
        const pages = Math.floor(((exp.ra % PAGE_SIZE) + len - 1) / PAGE_SIZE) + 1;
        for (let k = 0; k < pages; k++) {
          const r = remote.paPageOf(exp.ra + k * PAGE_SIZE);
          const l = local.paPageOf(localRa + k * PAGE_SIZE);
          if (r < 0 || l < 0) continue;
          if (dir === LDC_COPY_IN) content[l] = content[r]!;
          else content[r] = content[l]!;
        }
        copied = len;
      }
    }
    return this.finish(
      caller,
      FN.LDC_COPY,
      status,
      copied,
      Math.ceil(copied / this.cost.memcpyBytesPerNs),
      0,
      0,
    );
  }

  private exportTable(domain: number, channelId: number): LdcMapTable | undefined {
    const ch = this.channels.find((c) => c.id === channelId);
    if (ch === undefined) return undefined;
    const side = ch.ends.indexOf(domain);
    return side < 0 ? undefined : this.mapTables.get(channelId)![side];
  }

  onDeath(fn: DeathListener): void {
    this.deathListeners.push(fn);
  }

  // ---- IOMMU services (open to every domain, limited to DVMA entries it owns) ----

  /**
   * pci_iommu_map: maps up to `n` entries from `index` with the RAs listed at `listRa` in the
   * caller's memory. May map fewer than asked (ret1 = #mapped); the caller loops. Everything is
   * checked before anything is written, so a refused call changes nothing.
   */
  iommuMap(
    caller: number,
    devhandle: number,
    tsbnum: number,
    index: number,
    n: number,
    attrs: number,
    listRa: number,
  ): number {
    const io = this.iommus.get(devhandle);
    let status = this.tsbStatus(caller, io, tsbnum, index, n);
    let count = 0;
    const badAttrs =
      (attrs & ~IO_ATTR_MASK) !== 0 || (attrs & (IO_ATTR_READ | IO_ATTR_WRITE)) === 0;
    if (status === HV.EOK && badAttrs) status = HV.EINVAL;
    else if (status === HV.EOK && listRa % 8 !== 0) status = HV.EBADALIGN;
    else if (status === HV.EOK && io !== undefined) {
      count = Math.min(n, this.maxTtesPerCall);
      status = this.checkMap(caller, io, index, count, listRa);
      if (status === HV.EOK) this.writeTtes(caller, io, index, count, attrs, listRa);
      else count = 0;
    }
    return this.finish(
      caller,
      FN.PCI_IOMMU_MAP,
      status,
      count,
      count * this.cost.tteWriteNs,
      devhandle,
      index,
    );
  }

  /** pci_iommu_demap: clears up to `n` entries and flushes them from the IOTLB (ret1 = #demapped). */
  iommuDemap(caller: number, devhandle: number, tsbnum: number, index: number, n: number): number {
    const io = this.iommus.get(devhandle);
    let status = this.tsbStatus(caller, io, tsbnum, index, n);
    let count = 0;
    if (status === HV.EOK && io !== undefined) {
      count = Math.min(n, this.maxTtesPerCall);
      if (!this.ownedBy(io, caller, index, count)) {
        status = HV.ENOACCESS;
        count = 0;
      } else this.clearTtes(io, index, count);
    }
    const work = count * this.cost.tteWriteNs + (count > 0 ? this.cost.iotlbFlushNs : 0);
    return this.finish(caller, FN.PCI_IOMMU_DEMAP, status, count, work, devhandle, index);
  }

  /** pci_iommu_getmap: ret1 = io_attributes, ret2 = the caller's RA of the mapped page. */
  iommuGetmap(caller: number, devhandle: number, tsbnum: number, index: number): number {
    const io = this.iommus.get(devhandle);
    let status = this.tsbStatus(caller, io, tsbnum, index, 1);
    if (status === HV.EOK && io!.entryOwner[index] !== caller) status = HV.ENOACCESS;
    else if (status === HV.EOK && !io!.iotsb.isValid(index)) status = HV.ENOMAP;
    else if (status === HV.EOK && io !== undefined) {
      this.ret1 = io.iotsb.attr[index]! & IO_ATTR_MASK;
      this.ret2 = this.domains[caller]!.mem.raOfPage(io.iotsb.pa[index]!);
    }
    return this.finish(
      caller,
      FN.PCI_IOMMU_GETMAP,
      status,
      0,
      0,
      devhandle,
      index,
      status === HV.EOK,
    );
  }

  /** pci_dma_sync: the model keeps DMA coherent, so this only validates and reports #synced. */
  dmaSync(caller: number, devhandle: number, ra: number, size: number, direction: number): number {
    let status: number = HV.EOK;
    if (!this.domains[caller]?.alive) status = HV.ENOACCESS;
    else if (
      !this.iommus.has(devhandle) ||
      (direction !== SYNC_FOR_DEVICE && direction !== SYNC_FOR_CPU)
    )
      status = HV.EINVAL;
    else if (!(size > 0)) status = HV.EINVAL;
    else if (!this.domains[caller]!.mem.contains(ra, size)) status = HV.ENORADDR;
    return this.finish(
      caller,
      FN.PCI_DMA_SYNC,
      status,
      status === HV.EOK ? size : 0,
      0,
      devhandle,
      0,
    );
  }

  // ---- The method's extension: control domain only ----

  /** dvma_grant: `guest` becomes the owner of entries [base, base + npages) of `devhandle`'s window. */
  dvmaGrant(
    caller: number,
    guest: number,
    devhandle: number,
    base: number,
    npages: number,
  ): number {
    const io = this.iommus.get(devhandle);
    const at = this.extensionIndex(caller, io, this.domains[guest]?.alive === true, base, npages);
    const index = Math.max(0, at);
    let status: number = at < 0 ? -at : HV.EOK;
    if (status === HV.EOK && !this.ownedBy(io!, -1, index, npages)) status = HV.EBUSY;
    else if (status === HV.EOK) {
      io!.entryOwner.fill(guest, index, index + npages);
      io!.ownedEntries += npages;
      if (this.bus?.wants("dvma.grant"))
        this.bus.emit("dvma.grant", { domain: guest, devhandle, base, npages });
    }
    return this.finish(
      caller,
      FN.DVMA_GRANT,
      status,
      status === HV.EOK ? npages : 0,
      0,
      devhandle,
      index,
    );
  }

  /** dvma_revoke: demaps, flushes the IOTLB, and only then frees the range (ret1 = #revoked). */
  dvmaRevoke(
    caller: number,
    guest: number,
    devhandle: number,
    base: number,
    npages: number,
  ): number {
    const io = this.iommus.get(devhandle);
    const at = this.extensionIndex(caller, io, this.domains[guest] !== undefined, base, npages);
    const index = Math.max(0, at);
    let status: number = at < 0 ? -at : HV.EOK;
    if (status === HV.EOK && !this.ownedBy(io!, guest, index, npages)) status = HV.ENOMAP;
    else if (status === HV.EOK) {
      this.clearTtes(io!, index, npages);
      io!.entryOwner.fill(-1, index, index + npages);
      io!.ownedEntries -= npages;
      if (this.bus?.wants("dvma.release")) {
        this.bus.emit("dvma.release", { domain: guest, devhandle, base, npages, reason: "revoke" });
      }
    }
    const n = status === HV.EOK ? npages : 0;
    const work = n * this.cost.tteWriteNs + (n > 0 ? this.cost.iotlbFlushNs : 0);
    return this.finish(caller, FN.DVMA_REVOKE, status, n, work, devhandle, index);
  }

  /** dvma_info: ret1 = owner of the entry at `base` (-1 = free), ret2 = how many entries from there share that owner. */
  dvmaInfo(caller: number, devhandle: number, base: number): number {
    const io = this.iommus.get(devhandle);
    const at = this.extensionIndex(caller, io, true, base, 1);
    const status: number = at < 0 ? -at : HV.EOK;
    if (status === HV.EOK) {
      const owner = io!.entryOwner[at]!;
      let end = at + 1;
      while (end < io!.windowPages && io!.entryOwner[end] === owner) end++;
      this.ret1 = owner;
      this.ret2 = end - at;
    }
    return this.finish(caller, FN.DVMA_INFO, status, 0, 0, devhandle, 0, status === HV.EOK);
  }

  // ---- Devices and domain lifecycle ----

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

  // ---- internals ----

  /** The checks the IOMMU calls share: a live caller, a known devhandle, tsbnum 0, entries inside the window. */
  private tsbStatus(
    caller: number,
    io: Iommu | undefined,
    tsbnum: number,
    index: number,
    n: number,
  ): number {
    if (!this.domains[caller]?.alive) return HV.ENOACCESS;
    if (io === undefined || tsbnum !== 0 || !(index >= 0 && index < io.windowPages))
      return HV.EINVAL;
    if (!(n > 0) || index + n > io.windowPages) return HV.EINVAL;
    return HV.EOK;
  }

  /** The checks the extension calls share: the entry index of `base`, or minus the status. */
  private extensionIndex(
    caller: number,
    io: Iommu | undefined,
    targetOk: boolean,
    base: number,
    npages: number,
  ): number {
    if (this.domains[caller]?.role !== "control") return -HV.ENOACCESS;
    if (io === undefined || !targetOk) return -HV.EINVAL;
    if (base % PAGE_SIZE !== 0) return -HV.EBADALIGN;
    const index = (base - io.windowBase) / PAGE_SIZE;
    if (!(npages > 0) || index < 0 || index + npages > io.windowPages) return -HV.EINVAL;
    return index;
  }

  private ownedBy(io: Iommu, owner: number, index: number, n: number): boolean {
    const o = io.entryOwner;
    for (let i = index; i < index + n; i++) if (o[i] !== owner) return false;
    return true;
  }

  /** Status of a map of `count` entries: ownership, then the list's memory, then each listed RA. */
  private checkMap(
    caller: number,
    io: Iommu,
    index: number,
    count: number,
    listRa: number,
  ): number {
    if (!this.ownedBy(io, caller, index, count)) return HV.ENOACCESS;
    const mem = this.domains[caller]!.mem;
    if (!mem.contains(listRa, count * 8)) return HV.ENORADDR;
    for (let k = 0; k < count; k++) {
      const ra = this.readListWord(mem, listRa, k);
      if (ra % PAGE_SIZE !== 0) return HV.EBADALIGN;
      if (mem.paPageOf(ra) < 0) return HV.ENORADDR;
    }
    return HV.EOK;
  }

  private writeTtes(
    caller: number,
    io: Iommu,
    index: number,
    count: number,
    attrs: number,
    listRa: number,
  ): void {
    const mem = this.domains[caller]!.mem;
    for (let k = 0; k < count; k++) {
      const i = index + k;
      // sun4v leaves remapping a live entry to the guest; the model keeps the IOTLB coherent anyway.
      if (io.iotsb.isValid(i)) io.iotlb.invalidate(i);
      io.iotsb.set(i, mem.paPageOf(this.readListWord(mem, listRa, k)), attrs);
    }
  }

  private clearTtes(io: Iommu, index: number, n: number): void {
    this.flushOps++;
    for (let i = index; i < index + n; i++) {
      io.iotsb.clear(i);
      io.iotlb.invalidate(i);
    }
    if (this.bus?.wants("iotlb.flush"))
      this.bus.emit("iotlb.flush", { devhandle: io.devhandle, entries: n });
  }

  /** Word k of a list at `listRa` in a domain's memory (unwritten words read as 0). */
  private readListWord(mem: AddressSpace, listRa: number, k: number): number {
    const ra = listRa + k * 8;
    const page = mem.paPageOf(ra);
    const words = this.memory.peekWords(page);
    return words === undefined ? 0 : words[(ra % PAGE_SIZE) / 8]!;
  }

  private finish(
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
