import type { EventBus } from "../events/bus.ts";
import type { Hypervisor } from "../hv/hypervisor.ts";
import { IO_ATTR_READ, IO_ATTR_WRITE } from "../iommu/iotsb.ts";
import type { CostModel } from "../machine/cost-model.ts";
import type { DomainCpu } from "../machine/cpu.ts";
import { WORDS_PER_PAGE } from "../machine/memory.ts";
import type { Simulator } from "../sim/kernel.ts";
import type { BrokerLink } from "./broker-client.ts";
import type { GuestMemory } from "./guest-memory.ts";
import type { LocalPolicy } from "./policy.ts";
import type { PolicyReplay } from "./policy-replay.ts";

/** What a guest's DMA API (guest-dma.ts) hands out, how it is configured, and its small helpers. */

export type DmaDirection = "to-device" | "from-device" | "bidirectional";

/** A live DMA mapping: what a driver hands its device. */
export interface DmaMapping {
  /** Device-visible address of the first byte. */
  dvma: number;
  len: number;
  /** First IOTSB entry and entry count. */
  index: number;
  npages: number;
  attrs: number;
}

export interface DmaFailure {
  error: string;
}

export const isDmaFailure = <T extends object>(r: T | DmaFailure): r is DmaFailure => "error" in r;

export interface GuestDmaOptions {
  /** "lease": ask the broker for chunks and allocate inside them; "per-map": one negotiation per mapping (the method read literally). */
  acquire: "lease" | "per-map";
  /**
   * Pages asked for per lease (a mapping larger than this gets a lease of its own size). A nacked
   * lease is asked for again at half the size, down to what the mapping needs.
   */
  leasePages: number;
  /** "strict": demap (and flush) before the DVMA can be reused; "deferred": batch demaps. */
  unmap: "strict" | "deferred";
  /** Deferred unmap flushes at this many pending entries... */
  deferredMaxEntries: number;
  /** ...or this long after the first pending one, whichever comes first (Linux: 250 entries or 10 ms). */
  deferredMaxNs: number;
  /** A lease with nothing mapped for this long goes back to the broker. 0 = keep leases. */
  leaseIdleNs: number;
}

/** A DMA API's counters. */
export function newDmaStats() {
  return {
    maps: 0,
    unmaps: 0,
    failures: 0,
    /** Maps that got no DVMA (nacked, timed out, or the local policy found no room in the leases). */
    refused: 0,
    mapCalls: 0,
    demapCalls: 0,
    negotiations: 0,
    /** Simulated time spent waiting for the broker's answers, ns. */
    dvmaWaitNs: 0,
    leasesHeld: 0,
    deferredFlushes: 0,
  };
}

export const DEFAULT_GUEST_DMA: GuestDmaOptions = {
  acquire: "lease",
  leasePages: 512,
  unmap: "strict",
  deferredMaxEntries: 250,
  deferredMaxNs: 10_000_000,
  leaseIdleNs: 0,
};

export interface GuestDmaEnv {
  sim: Simulator;
  hv: Hypervisor;
  domain: number;
  devhandle: number;
  cpu: DomainCpu;
  cost: CostModel;
  link: BrokerLink;
  memory: GuestMemory;
  /** The local policy (already wrapped by the host's checks). */
  policy: LocalPolicy;
  /** Its calls, replayed on the calling vCPU. */
  replay: PolicyReplay;
  bus?: EventBus;
}

/** Pages per hypervisor map call: one 8 KiB page of 8-byte RAs (Linux PGLIST_NENTS). */
export const PGLIST_NENTS = WORDS_PER_PAGE;

/** Linux sets READ always and WRITE unless the device only reads memory. */
export function attrsOf(dir: DmaDirection): number {
  return dir === "to-device" ? IO_ATTR_READ : IO_ATTR_READ | IO_ATTR_WRITE;
}
