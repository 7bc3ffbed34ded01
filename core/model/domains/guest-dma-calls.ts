import { HV } from "../hv/status.ts";
import { PAGE_SIZE } from "../machine/memory.ts";
import type { Proc } from "../sim/kernel.ts";
import {
  type DmaMapping,
  type GuestDmaEnv,
  type newDmaStats,
  PGLIST_NENTS,
} from "./guest-dma-types.ts";
import type { Completion } from "./io.ts";

/**
 * A guest DMA API's hypervisor calls: maps a range's pages through its per-CPU page list in
 * batches of up to PGLIST_NENTS (looping on partial completion, as Linux's iommu_batch_flush
 * does), and demaps ranges. Each returns the CPU ns its calls cost; the caller holds a vCPU.
 */
export class DmaCalls {
  /** The status of the last map: HV.EOK, or the refusal that stopped it. */
  status: number = HV.EOK;
  /** Entries the last map had mapped when it stopped. */
  mapped = 0;

  constructor(
    private readonly env: GuestDmaEnv,
    /** The page list: its RA, and its words in the guest's memory. */
    private readonly listRa: number,
    private readonly list: Float64Array,
    private readonly stats: ReturnType<typeof newDmaStats>,
  ) {}

  /** Maps entries [index, index + npages) to pages `raPages`, or from `raFirst` on if null. */
  map(index: number, npages: number, attrs: number, raFirst: number, raPages: number[] | null) {
    const { hv, domain, devhandle } = this.env;
    let spent = 0;
    let done = 0;
    this.status = HV.EOK;
    while (done < npages) {
      const batch = Math.min(PGLIST_NENTS, npages - done);
      for (let k = 0; k < batch; k++) {
        this.list[k] = raPages === null ? raFirst + (done + k) * PAGE_SIZE : raPages[done + k]!;
      }
      let off = 0;
      while (off < batch) {
        const st = hv.iommuMap(
          domain,
          devhandle,
          0,
          index + done + off,
          batch - off,
          attrs,
          this.listRa + off * 8,
        );
        this.stats.mapCalls++;
        spent += hv.lastCostNs;
        if (st !== HV.EOK) {
          this.status = st;
          this.mapped = done + off;
          return spent;
        }
        off += hv.ret1;
      }
      done += batch;
    }
    this.mapped = npages;
    return spent;
  }

  /** Demaps [index, index + n), looping on partial completion. */
  demap(index: number, n: number): number {
    const { hv, domain, devhandle } = this.env;
    let spent = 0;
    let done = 0;
    while (done < n) {
      const st = hv.iommuDemap(domain, devhandle, 0, index + done, n - done);
      this.stats.demapCalls++;
      spent += hv.lastCostNs;
      if (st !== HV.EOK || hv.ret1 === 0) break; // the range is no longer ours (revoked): nothing left to clear
      done += hv.ret1;
    }
    return spent;
  }
}

/** The two steps of a strict unmap, as the DMA API does them for a completion handler. */
export interface UnmapSteps {
  /** Bookkeeping and demap of `m` from `at` on; returns when they end. */
  demap(m: DmaMapping, at: number): number;
  /** The DVMA back to the local policy, charged on held vCPU `v`; returns the vCPU held after. */
  giveBack(m: DmaMapping, v: number): Proc<number>;
}

/** A strict unmap a completion interrupt's handler does (see GuestDmaApi.completion). */
export class StrictUnmap implements Completion {
  done = false;

  constructor(
    private readonly steps: UnmapSteps,
    private readonly m: DmaMapping,
  ) {}

  work(at: number): number {
    return this.steps.demap(this.m, at);
  }

  finish(v: number): Proc<number> {
    this.done = true;
    return this.steps.giveBack(this.m, v);
  }
}
