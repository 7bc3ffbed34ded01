import { TTE_VALID } from "./iotsb.ts";

/**
 * A set-associative IOTLB caching TTEs by DVMA page index, with LRU replacement inside a set.
 * Entries are not tagged by requester: like the hardware, it caches the shared table.
 *
 * The set index XOR-folds every group of log2(sets) bits of the page index into one (XOR-based
 * placement, Gonzalez et al., ICS 1997). With the low bits alone, ranges that start on the same
 * multiple of `sets` pages (every 512-page lease) fall into the same sets and evict each other;
 * folding in the high bits spreads them, while pages of one range still fill consecutive sets.
 */
export class Iotlb {
  readonly sets: number;
  readonly ways: number;
  private readonly mask: number;
  private readonly shift: number;
  private readonly tag: Int32Array;
  private readonly pa: Int32Array;
  private readonly attr: Uint8Array;
  private readonly stamp: Uint32Array;
  private clock = 0;
  hits = 0;
  misses = 0;
  invalidations = 0;

  constructor(sets: number, ways: number) {
    if (sets < 1 || (sets & (sets - 1)) !== 0)
      throw new RangeError(`IOTLB sets must be a power of two, got ${sets}`);
    this.sets = sets;
    this.ways = ways;
    this.mask = sets - 1;
    this.shift = Math.log2(sets);
    const n = sets * ways;
    this.tag = new Int32Array(n).fill(-1);
    this.pa = new Int32Array(n);
    this.attr = new Uint8Array(n);
    this.stamp = new Uint32Array(n);
  }

  /** The set `index` lives in (see the class comment). */
  setOf(index: number): number {
    if (this.shift === 0) return 0;
    let set = 0;
    for (let x = index; x !== 0; x >>>= this.shift) set ^= x & this.mask;
    return set;
  }

  /** Slot holding `index`, or -1 (counts a hit or a miss). */
  lookup(index: number): number {
    const base = this.setOf(index) * this.ways;
    for (let w = 0; w < this.ways; w++) {
      if (this.tag[base + w] === index) {
        this.stamp[base + w] = ++this.clock;
        this.hits++;
        return base + w;
      }
    }
    this.misses++;
    return -1;
  }

  paAt(slot: number): number {
    return this.pa[slot]!;
  }

  attrAt(slot: number): number {
    return this.attr[slot]!;
  }

  insert(index: number, paPage: number, attrs: number): void {
    const base = this.setOf(index) * this.ways;
    let victim = base;
    for (let w = 0; w < this.ways; w++) {
      const s = base + w;
      if (this.tag[s] === -1) {
        victim = s;
        break;
      }
      if (this.stamp[s]! < this.stamp[victim]!) victim = s;
    }
    this.tag[victim] = index;
    this.pa[victim] = paPage;
    this.attr[victim] = attrs | TTE_VALID;
    this.stamp[victim] = ++this.clock;
  }

  /** Drops the cached entry for `index`, if any. */
  invalidate(index: number): void {
    const base = this.setOf(index) * this.ways;
    for (let w = 0; w < this.ways; w++) {
      if (this.tag[base + w] === index) {
        this.tag[base + w] = -1;
        this.invalidations++;
      }
    }
  }

  flushAll(): void {
    this.tag.fill(-1);
    this.invalidations++;
  }

  /** True if `index` is cached (no statistics touched; for invariant checks). */
  holds(index: number): boolean {
    return this.peek(index) >= 0;
  }

  /** Slot holding `index`, or -1, touching no statistics and no LRU order (for invariant checks). */
  peek(index: number): number {
    const base = this.setOf(index) * this.ways;
    for (let w = 0; w < this.ways; w++) if (this.tag[base + w] === index) return base + w;
    return -1;
  }

  /** Indices currently cached, in slot order. */
  cachedIndices(): number[] {
    const out: number[] = [];
    for (const t of this.tag) if (t !== -1) out.push(t);
    return out;
  }
}
