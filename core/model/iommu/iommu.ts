import type { PhysMemory } from "../machine/memory.ts";
import { PAGE_SIZE } from "../machine/memory.ts";
import { Iotlb } from "./iotlb.ts";
import { IO_ATTR_READ, IO_ATTR_WRITE, Iotsb } from "./iotsb.ts";

export type Isolation = "shared" | "per-device";

/** Why a DMA was aborted. 0 means it completed. */
export const DmaFault = {
  none: 0,
  outsideWindow: 1,
  noTranslation: 2,
  protection: 3,
  notOwner: 4,
  deviceReset: 5,
} as const;
export type DmaFaultCode = (typeof DmaFault)[keyof typeof DmaFault];
export const DMA_FAULT_NAMES = [
  "none",
  "outside-window",
  "no-translation",
  "protection",
  "not-owner",
  "device-reset",
] as const;

export interface IommuTiming {
  iotlbHitNs: number;
  iotlbMissNs: number;
}

/**
 * The IOMMU of one root complex: translates device DMA through the IOTLB and the IOTSB, checks
 * attributes and (per-device isolation) that the entry's owner is the device's domain. A DMA is
 * all or nothing: every page is translated and checked before any memory is touched.
 */
export class Iommu {
  readonly devhandle: number;
  readonly windowBase: number;
  readonly windowPages: number;
  readonly isolation: Isolation;
  readonly iotsb: Iotsb;
  readonly iotlb: Iotlb;
  /** Owner domain of each DVMA entry (-1 = free); written only by the hypervisor. */
  readonly entryOwner: Int16Array;
  /**
   * Domain + 1 of each requester ID (0 = none or reset), up to the highest ID bound: a boot
   * allocates and zeroes only that much, not all 2^16 IDs (the explorer boots once per schedule).
   */
  private ridDomain = new Int16Array(0);
  private scratch = new Int32Array(256);
  /** Translation cost of the last DMA, ns. */
  lastCostNs = 0;
  /** First DVMA address that faulted in the last DMA. */
  lastFaultDvma = 0;
  dmas = 0;
  /** Window entries some domain owns (kept by the hypervisor with entryOwner). */
  ownedEntries = 0;
  readonly faults = new Uint32Array(DMA_FAULT_NAMES.length);

  constructor(
    devhandle: number,
    windowBase: number,
    windowBytes: number,
    isolation: Isolation,
    sets: number,
    ways: number,
    private readonly memory: PhysMemory,
    private readonly timing: IommuTiming,
  ) {
    this.devhandle = devhandle;
    this.windowBase = windowBase;
    this.windowPages = windowBytes / PAGE_SIZE;
    this.isolation = isolation;
    this.iotsb = new Iotsb(this.windowPages);
    this.iotlb = new Iotlb(sets, ways);
    this.entryOwner = new Int16Array(this.windowPages).fill(-1);
  }

  bindRequester(rid: number, domain: number): void {
    if (rid >= this.ridDomain.length) {
      const t = new Int16Array(Math.min(0x10000, Math.max(rid + 1, this.ridDomain.length * 2)));
      t.set(this.ridDomain);
      this.ridDomain = t;
    }
    this.ridDomain[rid] = domain + 1;
  }

  domainOfRequester(rid: number): number {
    return (this.ridDomain[rid] ?? 0) - 1;
  }

  /** Drops the cached translation of entries [index, index + n). */
  invalidate(index: number, n: number): void {
    for (let i = index; i < index + n; i++) this.iotlb.invalidate(i);
  }

  /**
   * Device `rid` moves `bytes` at `dvma`. `write` = device writes memory. On success writes
   * `(tag + k) >>> 0` into the k-th page touched (or, for reads, copies page tags into `readOut`).
   */
  dma(
    rid: number,
    dvma: number,
    bytes: number,
    write: boolean,
    tag: number,
    readOut?: Uint32Array,
  ): DmaFaultCode {
    this.dmas++;
    this.lastCostNs = 0;
    const domain = (this.ridDomain[rid] ?? 0) - 1;
    if (domain < 0) return this.fault(DmaFault.deviceReset, dvma);
    const first = Math.floor((dvma - this.windowBase) / PAGE_SIZE);
    const last = Math.floor((dvma + bytes - 1 - this.windowBase) / PAGE_SIZE);
    if (!(bytes > 0) || first < 0 || last >= this.windowPages)
      return this.fault(DmaFault.outsideWindow, dvma);
    const n = last - first + 1;
    if (this.scratch.length < n)
      this.scratch = new Int32Array(Math.max(n, this.scratch.length * 2));
    const need = write ? IO_ATTR_WRITE : IO_ATTR_READ;
    const tlb = this.iotlb;
    const tsb = this.iotsb;
    let cost = 0;
    for (let k = 0; k < n; k++) {
      const idx = first + k;
      const at = this.windowBase + idx * PAGE_SIZE;
      if (this.isolation === "per-device" && this.entryOwner[idx] !== domain)
        return this.fault(DmaFault.notOwner, at);
      let pa: number;
      let attrs: number;
      const slot = tlb.lookup(idx);
      if (slot >= 0) {
        cost += this.timing.iotlbHitNs;
        pa = tlb.paAt(slot);
        attrs = tlb.attrAt(slot);
      } else {
        cost += this.timing.iotlbMissNs;
        if (!tsb.isValid(idx)) return this.fault(DmaFault.noTranslation, at);
        pa = tsb.pa[idx]!;
        attrs = tsb.attr[idx]!;
        tlb.insert(idx, pa, attrs);
      }
      if ((attrs & need) === 0) return this.fault(DmaFault.protection, at);
      this.scratch[k] = pa;
    }
    this.lastCostNs = cost;
    const content = this.memory.content;
    if (write) for (let k = 0; k < n; k++) content[this.scratch[k]!] = (tag + k) >>> 0;
    else if (readOut)
      for (let k = 0; k < n && k < readOut.length; k++) readOut[k] = content[this.scratch[k]!]!;
    return DmaFault.none;
  }

  private fault(code: DmaFaultCode, dvma: number): DmaFaultCode {
    this.faults[code]!++;
    this.lastFaultDvma = dvma;
    return code;
  }
}
