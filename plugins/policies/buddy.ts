/**
 * buddy: the control domain grants power-of-two blocks of the window, as a binary buddy
 * allocator. A request rounds up to the next power of two (the unused tail is the internal
 * fragmentation, reported as `internalFragmentation` pages); a larger free block is split in
 * halves down to that size, and a freed block merges with its buddy while the buddy is free.
 * A block of order k starts at a multiple of 2^k, so an alignment up to the block size is free;
 * a larger one is met by splitting a block of the alignment's order.
 *
 * The window need not be a power of two: it starts as the largest aligned blocks that tile it.
 * Ranges that did not come from `grant` (a ledger rebuild's `restore`, or a piece of a grant
 * revoked on its own) are carved out of and returned to the free blocks page-exactly.
 */

import {
  definePlugin,
  type GlobalPolicy,
  type PolicyStats,
  type Refusal,
  Type,
} from "../../core/index.ts";

export default definePlugin({
  name: "buddy",
  kind: "policy.global",
  version: "1.0.0",
  description:
    "Global DVMA policy: binary buddy allocator, power-of-two blocks, split and coalesce",
  options: Type.Object({}, { additionalProperties: false }),
  setup() {
    return ({ windowPages }) => new BuddyPolicy(windowPages);
  },
});

/** Largest k with 2^k ≤ n (n ≥ 1). */
const floorLog2 = (n: number) => 31 - Math.clz32(n);
/** Smallest k with 2^k ≥ n (n ≥ 1). */
const ceilLog2 = (n: number) => (n === 1 ? 0 : 32 - Math.clz32(n - 1));

export class BuddyPolicy implements GlobalPolicy {
  private readonly maxOrder: number;
  /** Per order: first free block, or -1; blocks are linked through next/prev. */
  private readonly heads: Int32Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  /** Order of the free block starting at a page, or -1. */
  private readonly freeOrder: Int8Array;
  /** Order of the granted block starting at a page, or -1; and the pages asked for. */
  private readonly grantOrder: Int8Array;
  private readonly grantPages: Int32Array;
  private freePages: number;
  private freeBlocks = 0;
  private allocated = 0;
  private waste = 0;
  private allocations = 0;
  private failures = 0;

  constructor(private readonly windowPages: number) {
    this.maxOrder = floorLog2(windowPages);
    this.heads = new Int32Array(this.maxOrder + 1).fill(-1);
    this.next = new Int32Array(windowPages);
    this.prev = new Int32Array(windowPages);
    this.freeOrder = new Int8Array(windowPages).fill(-1);
    this.grantOrder = new Int8Array(windowPages).fill(-1);
    this.grantPages = new Int32Array(windowPages);
    this.freePages = 0;
    this.freeRange(0, windowPages);
  }

  grant(_domain: number, npages: number, align: number): number | Refusal {
    const k = ceilLog2(npages);
    let j = Math.max(k, floorLog2(align));
    while (j <= this.maxOrder && this.heads[j] < 0) j++;
    if (j > this.maxOrder) {
      this.failures++;
      return {
        refused: `no free block of ${2 ** k} pages aligned to ${align} (largest free block ${this.largestBlock()} pages)`,
      };
    }
    const base = this.heads[j];
    this.unlink(base, j);
    // Split down to order k, freeing the upper halves.
    while (j > k) {
      j--;
      this.link(base + (1 << j), j);
    }
    this.grantOrder[base] = k;
    this.grantPages[base] = npages;
    this.allocated += npages;
    this.waste += (1 << k) - npages;
    this.allocations++;
    return base;
  }

  revoke(_domain: number, base: number, npages: number): void {
    const k = this.grantOrder[base];
    if (k >= 0 && this.grantPages[base] === npages) {
      this.grantOrder[base] = -1;
      this.waste -= (1 << k) - npages;
      this.freeBlock(base, k);
    } else {
      this.trimGrants(base, base + npages);
      this.freeRange(base, base + npages);
    }
    this.allocated -= npages;
  }

  reclaim(_domain: number): void {
    // Every range was revoked one by one; the allocator keeps no per-domain state.
  }

  restore(_domain: number, base: number, npages: number): void {
    const end = base + npages;
    this.trimGrants(base, end);
    for (let p = base; p < end; ) {
      const k = this.freeBlockAt(p);
      if (k < 0) throw new Error(`restore of [${base}, ${end}): page ${p} is not free`);
      const s = p & -(1 << k);
      const blockEnd = s + (1 << k);
      this.unlink(s, k);
      const cut = Math.min(end, blockEnd);
      if (s < p) this.freeRange(s, p);
      if (cut < blockEnd) this.freeRange(cut, blockEnd);
      p = cut;
    }
    this.allocated += npages;
  }

  stats(): PolicyStats {
    const largest = this.largestBlock();
    return {
      allocatedPages: this.allocated,
      freePages: this.freePages,
      allocations: this.allocations,
      failures: this.failures,
      internalFragmentation: this.waste,
      freeBlocks: this.freeBlocks,
      largestFreeBlock: largest,
      fragmentation: this.freePages === 0 ? 0 : 1 - largest / this.freePages,
    };
  }

  /** Frees the block (s, k), merging with its buddy while the buddy is a free block of order k. */
  private freeBlock(s: number, k: number): void {
    while (k < this.maxOrder) {
      const buddy = s ^ (1 << k);
      if (buddy + (1 << k) > this.windowPages || this.freeOrder[buddy] !== k) break;
      this.unlink(buddy, k);
      s &= ~(1 << k);
      k++;
    }
    this.link(s, k);
  }

  /** Frees [a, b) as the largest aligned blocks that tile it. */
  private freeRange(a: number, b: number): void {
    while (a < b) {
      let k = Math.min(floorLog2(b - a), this.maxOrder);
      if (a !== 0) k = Math.min(k, 31 - Math.clz32(a & -a));
      this.freeBlock(a, k);
      a += 1 << k;
    }
  }

  /** Order of the free block containing page p, or -1. */
  private freeBlockAt(p: number): number {
    for (let k = 0; k <= this.maxOrder; k++) {
      if (this.freeOrder[p & -(1 << k)] === k) return k;
    }
    return -1;
  }

  /**
   * Granted blocks touching [a, b) become page-exact: their unused tails go back to the free
   * blocks, so a piece of a grant can be revoked, or a tail page restored, on its own.
   */
  private trimGrants(a: number, b: number): void {
    for (let p = a; p < b; p++) {
      for (let k = 0; k <= this.maxOrder; k++) {
        const s = p & -(1 << k);
        if (this.grantOrder[s] !== k) continue;
        const n = this.grantPages[s];
        this.grantOrder[s] = -1;
        this.waste -= (1 << k) - n;
        if (n < 1 << k) this.freeRange(s + n, s + (1 << k));
        break;
      }
    }
  }

  private largestBlock(): number {
    for (let k = this.maxOrder; k >= 0; k--) if (this.heads[k] >= 0) return 1 << k;
    return 0;
  }

  private link(s: number, k: number): void {
    const h = this.heads[k];
    this.next[s] = h;
    this.prev[s] = -1;
    if (h >= 0) this.prev[h] = s;
    this.heads[k] = s;
    this.freeOrder[s] = k;
    this.freePages += 1 << k;
    this.freeBlocks++;
  }

  private unlink(s: number, k: number): void {
    const n = this.next[s];
    const p = this.prev[s];
    if (p >= 0) this.next[p] = n;
    else this.heads[k] = n;
    if (n >= 0) this.prev[n] = p;
    this.freeOrder[s] = -1;
    this.freePages -= 1 << k;
    this.freeBlocks--;
  }
}
