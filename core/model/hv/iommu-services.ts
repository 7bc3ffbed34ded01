import type { Iommu } from "../iommu/iommu.ts";
import { IO_ATTR_MASK, IO_ATTR_READ, IO_ATTR_WRITE } from "../iommu/iotsb.ts";
import type { AddressSpace } from "../machine/address-space.ts";
import { PAGE_SIZE } from "../machine/memory.ts";
import { FN, SYNC_FOR_CPU, SYNC_FOR_DEVICE } from "./functions.ts";
import type { Hypervisor } from "./hypervisor.ts";
import { HV } from "./status.ts";

/**
 * The sun4v IOMMU services: open to every domain, limited to the DVMA entries it owns. Each
 * returns a status and leaves its results in `hv.ret1`/`hv.ret2` (see Hypervisor).
 */

/**
 * pci_iommu_map: maps up to `n` entries from `index` with the RAs listed at `listRa` in the
 * caller's memory. May map fewer than asked (ret1 = #mapped); the caller loops. Everything is
 * checked before anything is written, so a refused call changes nothing.
 */
export function iommuMap(
  hv: Hypervisor,
  caller: number,
  devhandle: number,
  tsbnum: number,
  index: number,
  n: number,
  attrs: number,
  listRa: number,
): number {
  const io = hv.iommus.get(devhandle);
  let status = tsbStatus(hv, caller, io, tsbnum, index, n);
  let count = 0;
  const badAttrs = (attrs & ~IO_ATTR_MASK) !== 0 || (attrs & (IO_ATTR_READ | IO_ATTR_WRITE)) === 0;
  if (status === HV.EOK && badAttrs) status = HV.EINVAL;
  else if (status === HV.EOK && listRa % 8 !== 0) status = HV.EBADALIGN;
  else if (status === HV.EOK && io !== undefined) {
    count = Math.min(n, hv.maxTtesPerCall);
    status = checkMap(hv, caller, io, index, count, listRa);
    if (status === HV.EOK) writeTtes(hv, caller, io, index, count, attrs, listRa);
    else count = 0;
  }
  return hv.finish(
    caller,
    FN.PCI_IOMMU_MAP,
    status,
    count,
    count * hv.cost.tteWriteNs,
    devhandle,
    index,
  );
}

/** pci_iommu_demap: clears up to `n` entries and flushes them from the IOTLB (ret1 = #demapped); MAP never flushes. */
export function iommuDemap(
  hv: Hypervisor,
  caller: number,
  devhandle: number,
  tsbnum: number,
  index: number,
  n: number,
): number {
  const io = hv.iommus.get(devhandle);
  let status = tsbStatus(hv, caller, io, tsbnum, index, n);
  let count = 0;
  if (status === HV.EOK && io !== undefined) {
    count = Math.min(n, hv.maxTtesPerCall);
    if (!ownedBy(io, caller, index, count)) {
      status = HV.ENOACCESS;
      count = 0;
    } else clearTtes(hv, io, index, count);
  }
  const work = count * hv.cost.tteWriteNs + (count > 0 ? hv.cost.iotlbFlushNs : 0);
  return hv.finish(caller, FN.PCI_IOMMU_DEMAP, status, count, work, devhandle, index);
}

/** pci_iommu_getmap: ret1 = io_attributes, ret2 = the caller's RA of the mapped page. */
export function iommuGetmap(
  hv: Hypervisor,
  caller: number,
  devhandle: number,
  tsbnum: number,
  index: number,
): number {
  const io = hv.iommus.get(devhandle);
  let status = tsbStatus(hv, caller, io, tsbnum, index, 1);
  if (status === HV.EOK && io!.entryOwner[index] !== caller) status = HV.ENOACCESS;
  else if (status === HV.EOK && !io!.iotsb.isValid(index)) status = HV.ENOMAP;
  else if (status === HV.EOK && io !== undefined) {
    hv.ret1 = io.iotsb.attr[index]! & IO_ATTR_MASK;
    hv.ret2 = hv.domains[caller]!.mem.raOfPage(io.iotsb.pa[index]!);
  }
  return hv.finish(caller, FN.PCI_IOMMU_GETMAP, status, 0, 0, devhandle, index, status === HV.EOK);
}

/** pci_dma_sync: the model keeps DMA coherent, so this only validates and reports #synced. */
export function dmaSync(
  hv: Hypervisor,
  caller: number,
  devhandle: number,
  ra: number,
  size: number,
  direction: number,
): number {
  let status: number = HV.EOK;
  if (!hv.domains[caller]?.alive) status = HV.ENOACCESS;
  else if (
    !hv.iommus.has(devhandle) ||
    (direction !== SYNC_FOR_DEVICE && direction !== SYNC_FOR_CPU)
  )
    status = HV.EINVAL;
  else if (!(size > 0)) status = HV.EINVAL;
  else if (!hv.domains[caller]!.mem.contains(ra, size)) status = HV.ENORADDR;
  return hv.finish(caller, FN.PCI_DMA_SYNC, status, status === HV.EOK ? size : 0, 0, devhandle, 0);
}

/** The checks the IOMMU calls share: a live caller, a known devhandle, tsbnum 0, entries inside the window. */
function tsbStatus(
  hv: Hypervisor,
  caller: number,
  io: Iommu | undefined,
  tsbnum: number,
  index: number,
  n: number,
): number {
  if (!hv.domains[caller]?.alive) return HV.ENOACCESS;
  if (io === undefined || tsbnum !== 0 || !(index >= 0 && index < io.windowPages)) return HV.EINVAL;
  if (!(n > 0) || index + n > io.windowPages) return HV.EINVAL;
  return HV.EOK;
}

/** The checks the extension calls share: the entry index of `base`, or minus the status. */
export function ownedBy(io: Iommu, owner: number, index: number, n: number): boolean {
  const o = io.entryOwner;
  for (let i = index; i < index + n; i++) if (o[i] !== owner) return false;
  return true;
}

/** Status of a map of `count` entries: ownership, then the list's memory, then each listed RA. */
function checkMap(
  hv: Hypervisor,
  caller: number,
  io: Iommu,
  index: number,
  count: number,
  listRa: number,
): number {
  if (!ownedBy(io, caller, index, count)) return HV.ENOACCESS;
  const mem = hv.domains[caller]!.mem;
  if (!mem.contains(listRa, count * 8)) return HV.ENORADDR;
  for (let k = 0; k < count; k++) {
    const ra = readListWord(hv, mem, listRa, k);
    if (ra % PAGE_SIZE !== 0) return HV.EBADALIGN;
    if (mem.paPageOf(ra) < 0) return HV.ENORADDR;
  }
  return HV.EOK;
}

function writeTtes(
  hv: Hypervisor,
  caller: number,
  io: Iommu,
  index: number,
  count: number,
  attrs: number,
  listRa: number,
): void {
  const mem = hv.domains[caller]!.mem;
  for (let k = 0; k < count; k++) {
    const i = index + k;
    // sun4v v1: MAP does not flush. Mapping over a valid entry is the guest's error: the IOTLB
    // may keep the old translation until a demap flushes it (the invariant checker names it).
    if (io.iotsb.isValid(i)) hv.remaps[caller]!++;
    io.iotsb.set(i, mem.paPageOf(readListWord(hv, mem, listRa, k)), attrs);
  }
}

export function clearTtes(hv: Hypervisor, io: Iommu, index: number, n: number): void {
  hv.flushOps++;
  for (let i = index; i < index + n; i++) {
    io.iotsb.clear(i);
    io.iotlb.invalidate(i);
  }
  if (hv.bus?.wants("iotlb.flush"))
    hv.bus.emit("iotlb.flush", { devhandle: io.devhandle, entries: n });
}

/** Word k of a list at `listRa` in a domain's memory (unwritten words read as 0). */
function readListWord(hv: Hypervisor, mem: AddressSpace, listRa: number, k: number): number {
  const ra = listRa + k * 8;
  const page = mem.paPageOf(ra);
  const words = hv.memory.peekWords(page);
  return words === undefined ? 0 : words[(ra % PAGE_SIZE) / 8]!;
}
