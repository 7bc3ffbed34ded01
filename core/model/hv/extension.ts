import type { Iommu } from "../iommu/iommu.ts";
import { PAGE_SIZE } from "../machine/memory.ts";
import { FN } from "./functions.ts";
import type { Hypervisor } from "./hypervisor.ts";
import { clearTtes, ownedBy } from "./iommu-services.ts";
import { HV } from "./status.ts";

/**
 * The method's extension calls (not part of sun4v): the control domain hands DVMA entries to a
 * guest and takes them back; the IOMMU services then let only the owner map them.
 */

/** dvma_grant: `guest` becomes the owner of entries [base, base + npages) of `devhandle`'s window. */
export function dvmaGrant(
  hv: Hypervisor,
  caller: number,
  guest: number,
  devhandle: number,
  base: number,
  npages: number,
): number {
  const io = hv.iommus.get(devhandle);
  const at = extensionIndex(hv, caller, io, hv.domains[guest]?.alive === true, base, npages);
  const index = Math.max(0, at);
  let status: number = at < 0 ? -at : HV.EOK;
  if (status === HV.EOK && !ownedBy(io!, -1, index, npages)) status = HV.EBUSY;
  else if (status === HV.EOK) {
    io!.entryOwner.fill(guest, index, index + npages);
    io!.ownedEntries += npages;
    if (hv.bus?.wants("dvma.grant"))
      hv.bus.emit("dvma.grant", { domain: guest, devhandle, base, npages });
  }
  return hv.finish(
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
export function dvmaRevoke(
  hv: Hypervisor,
  caller: number,
  guest: number,
  devhandle: number,
  base: number,
  npages: number,
): number {
  const io = hv.iommus.get(devhandle);
  const at = extensionIndex(hv, caller, io, hv.domains[guest] !== undefined, base, npages);
  const index = Math.max(0, at);
  let status: number = at < 0 ? -at : HV.EOK;
  if (status === HV.EOK && !ownedBy(io!, guest, index, npages)) status = HV.ENOMAP;
  else if (status === HV.EOK) {
    clearTtes(hv, io!, index, npages);
    io!.entryOwner.fill(-1, index, index + npages);
    io!.ownedEntries -= npages;
    if (hv.bus?.wants("dvma.release")) {
      hv.bus.emit("dvma.release", { domain: guest, devhandle, base, npages, reason: "revoke" });
    }
  }
  const n = status === HV.EOK ? npages : 0;
  const work = n * hv.cost.tteWriteNs + (n > 0 ? hv.cost.iotlbFlushNs : 0);
  return hv.finish(caller, FN.DVMA_REVOKE, status, n, work, devhandle, index);
}

/** dvma_info: ret1 = owner of the entry at `base` (-1 = free), ret2 = how many entries from there share that owner. */
export function dvmaInfo(hv: Hypervisor, caller: number, devhandle: number, base: number): number {
  const io = hv.iommus.get(devhandle);
  const at = extensionIndex(hv, caller, io, true, base, 1);
  const status: number = at < 0 ? -at : HV.EOK;
  if (status === HV.EOK) {
    const owner = io!.entryOwner[at]!;
    let end = at + 1;
    while (end < io!.windowPages && io!.entryOwner[end] === owner) end++;
    hv.ret1 = owner;
    hv.ret2 = end - at;
  }
  return hv.finish(caller, FN.DVMA_INFO, status, 0, 0, devhandle, 0, status === HV.EOK);
}

function extensionIndex(
  hv: Hypervisor,
  caller: number,
  io: Iommu | undefined,
  targetOk: boolean,
  base: number,
  npages: number,
): number {
  if (hv.domains[caller]?.role !== "control") return -HV.ENOACCESS;
  if (io === undefined || !targetOk) return -HV.EINVAL;
  if (base % PAGE_SIZE !== 0) return -HV.EBADALIGN;
  const index = (base - io.windowBase) / PAGE_SIZE;
  if (!(npages > 0) || index < 0 || index + npages > io.windowPages) return -HV.EINVAL;
  return index;
}
