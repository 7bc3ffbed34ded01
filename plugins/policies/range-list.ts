/**
 * An ordered list of disjoint page ranges [lo, hi), each with a small tag, stored B+-tree
 * fashion: sorted leaves of up to 64 ranges in one typed array, under a sorted array of the
 * leaves' first pages. Finding a range is two binary searches over memory that stays in cache;
 * inserting or removing one shifts part of a leaf. Each leaf, and each group of 64 leaves,
 * remembers the largest free gap below one of its ranges, so a downward search for a gap skips
 * whole leaves and groups that cannot fit. A merge of gaps (a removal) raises those maxima in
 * place; a split (an insertion) only marks them unknown, to be recounted when a search needs
 * them. Not a plugin: the rbtree and magazine policies build on it.
 *
 * Calls work on a cursor (`p`, the leaf's position in order, and `i`, the range in the leaf),
 * set by `seek` and moved by the calls that say so.
 */

const LEAF = 64;
/** A leaf this empty merges with a neighbour when both fit in MERGED ranges. */
const SPARSE = LEAF / 4;
const MERGED = (LEAF * 3) / 4;
/** Leaves per group: log2 and mask. */
const GROUP_SHIFT = 6;
const GROUP_MASK = (1 << GROUP_SHIFT) - 1;
/** Int32s per range: lo, hi, tag. */
const W = 3;

export class RangeList {
  /** Leaf id L holds its ranges at [L * LEAF * W, ...), W numbers each. */
  private r = new Int32Array(4 * LEAF * W);
  /** Per leaf id: ranges in it. */
  private count = new Int32Array(4);
  /** Per position in page order: the leaf id, its first page, its largest gap (-1 = unknown). */
  private order = new Int32Array(4);
  private firstLo = new Int32Array(4);
  private leafGap = new Int32Array(4);
  /** Per group of 64 positions: the largest gap in its leaves (-1 = unknown). */
  private groupGap = new Int32Array(1).fill(-1);
  private leaves = 0;
  private leafIds = 0;
  private readonly spareLeaves: number[] = [];
  /** Cursor: position in `order`, index in the leaf. */
  p = 0;
  i = 0;

  /** Start of the range at the cursor. */
  get curLo(): number {
    return this.r[this.at(this.p, this.i)];
  }

  get curHi(): number {
    return this.r[this.at(this.p, this.i) + 1];
  }

  get curTag(): number {
    return this.r[this.at(this.p, this.i) + 2];
  }

  /** Free pages between the range below (or page 0) and the cursor's range. */
  get curGap(): number {
    return this.curLo - this.hiBelow(this.p, this.i);
  }

  /** Puts the cursor on the range with the largest start ≤ page; false if there is none. */
  seek(page: number): boolean {
    const first = this.firstLo;
    let a = 0;
    let b = this.leaves;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (first[m] <= page) a = m + 1;
      else b = m;
    }
    if (a === 0) return false;
    const p = a - 1;
    const base = this.at(p, 0);
    const r = this.r;
    let x = 0;
    let y = this.count[this.order[p]];
    while (x < y) {
      const m = (x + y) >>> 1;
      if (r[base + m * W] <= page) x = m + 1;
      else y = m;
    }
    this.p = p;
    this.i = x - 1;
    return true;
  }

  /** Moves the cursor to the range below; false (cursor unchanged) at the bottom. */
  prev(): boolean {
    if (this.i > 0) this.i--;
    else if (this.p > 0) {
      this.p--;
      this.i = this.count[this.order[this.p]] - 1;
    } else return false;
    return true;
  }

  /** Moves the cursor to the range above; false (cursor unchanged) at the top. */
  next(): boolean {
    if (this.i + 1 < this.count[this.order[this.p]]) this.i++;
    else if (this.p + 1 < this.leaves) {
      this.p++;
      this.i = 0;
    } else return false;
    return true;
  }

  /** Inserts [lo, hi) in order (it must overlap nothing); the cursor ends on it. */
  insert(lo: number, hi: number, tag: number): void {
    if (this.leaves === 0) this.placeLeaf(0, this.newLeaf());
    if (this.seek(lo)) this.insertAt(this.p, this.i + 1, lo, hi, tag);
    else this.insertAt(0, 0, lo, hi, tag);
  }

  /** Inserts [lo, hi) just below the cursor's range (inside its gap); the cursor ends on it. */
  insertBelow(lo: number, hi: number, tag: number): void {
    this.insertAt(this.p, this.i, lo, hi, tag);
  }

  /** Removes the cursor's range; the cursor ends on the range above it (false if none). */
  remove(): boolean {
    const p = this.p;
    const i = this.i;
    const leaf = this.order[p];
    const base = this.at(p, 0);
    const below = this.hiBelow(p, i);
    const c = --this.count[leaf];
    this.r.copyWithin(base + i * W, base + (i + 1) * W, base + (c + 1) * W);
    if (c > 0 && i === 0) this.firstLo[p] = this.r[base];
    const hasAbove = i < c || p + 1 < this.leaves;
    const aboveLo = i < c ? this.r[base + i * W] : hasAbove ? this.firstLo[p + 1] : 0;
    if (c === 0) this.dropLeaf(p);
    else {
      // The gaps on both sides and the range itself are now one gap, below `aboveLo`; when
      // that is in the next leaf, this leaf lost a gap.
      if (i === c) this.shrank(p);
      if (hasAbove) this.grew(i < c ? p : p + 1, aboveLo - below);
      if (c < SPARSE) this.mergeAround(p);
    }
    if (!hasAbove) {
      this.seek(Number.MAX_SAFE_INTEGER);
      return false;
    }
    this.seek(aboveLo);
    return true;
  }

  /** Moves the start of the cursor's range (never past a neighbour). */
  setLo(lo: number): void {
    this.r[this.at(this.p, this.i)] = lo;
    if (this.i === 0) this.firstLo[this.p] = lo;
    this.unknown(this.p);
  }

  /** Moves the end of the cursor's range (never past a neighbour). */
  setHi(hi: number): void {
    this.r[this.at(this.p, this.i) + 1] = hi;
    this.unknown(this.p);
  }

  /** Whether n pages aligned by `mask` fit at the top of the gap below the cursor's range. */
  fitsHere(n: number, mask: number): boolean {
    const high = this.curLo;
    const low = this.hiBelow(this.p, this.i);
    return high - low >= n && ((high - n) & ~mask) >= low;
  }

  /**
   * From the cursor's range down, the first range whose gap fits n pages aligned by `mask`
   * (iova.c's walk). The cursor ends on it; false (cursor unchanged) when none does.
   */
  fitDown(n: number, mask: number): boolean {
    const r = this.r;
    let p = this.p;
    let i = this.i;
    let base = this.at(p, 0);
    for (;;) {
      for (; i >= 0; i--) {
        const high = r[base + i * W];
        const low = i > 0 ? r[base + (i - 1) * W + 1] : this.hiBelow(p, 0);
        if (high - low >= n && ((high - n) & ~mask) >= low) {
          this.p = p;
          this.i = i;
          return true;
        }
      }
      for (;;) {
        if (--p < 0) return false;
        // Entering a group from its top: skip it whole when nothing in it fits.
        if ((p & GROUP_MASK) === GROUP_MASK && this.groupMax(p >> GROUP_SHIFT) < n) {
          p -= GROUP_MASK;
          continue;
        }
        if (this.leafMax(p) >= n) break;
      }
      base = this.at(p, 0);
      i = this.count[this.order[p]] - 1;
    }
  }

  /** The largest gap below any range. */
  largestGap(): number {
    let best = 0;
    for (let g = 0; g << GROUP_SHIFT < this.leaves; g++) best = Math.max(best, this.groupMax(g));
    return best;
  }

  /** Ranges with a free gap below them. */
  gaps(): number {
    let n = 0;
    for (let p = 0; p < this.leaves; p++) {
      for (let i = 0; i < this.count[this.order[p]]; i++) {
        if (this.r[this.at(p, i)] > this.hiBelow(p, i)) n++;
      }
    }
    return n;
  }

  /** Index in `r` of range i of the leaf at position p. */
  private at(p: number, i: number): number {
    return (this.order[p] * LEAF + i) * W;
  }

  /** End of the range below (p, i), or 0 at the bottom. */
  private hiBelow(p: number, i: number): number {
    if (i > 0) return this.r[this.at(p, i - 1) + 1];
    if (p === 0) return 0;
    return this.r[this.at(p - 1, this.count[this.order[p - 1]] - 1) + 1];
  }

  private leafMax(p: number): number {
    let m = this.leafGap[p];
    if (m >= 0) return m;
    m = 0;
    const base = this.at(p, 0);
    let low = this.hiBelow(p, 0);
    for (let i = 0; i < this.count[this.order[p]]; i++) {
      m = Math.max(m, this.r[base + i * W] - low);
      low = this.r[base + i * W + 1];
    }
    this.leafGap[p] = m;
    return m;
  }

  private groupMax(g: number): number {
    let m = this.groupGap[g];
    if (m >= 0) return m;
    m = 0;
    const end = Math.min(this.leaves, (g + 1) << GROUP_SHIFT);
    for (let p = g << GROUP_SHIFT; p < end; p++) m = Math.max(m, this.leafMax(p));
    this.groupGap[g] = m;
    return m;
  }

  /** A gap in leaf p grew to `gap`: known maxima can only rise. */
  private grew(p: number, gap: number): void {
    if (this.leafGap[p] >= 0 && gap > this.leafGap[p]) this.leafGap[p] = gap;
    const g = p >> GROUP_SHIFT;
    if (this.groupGap[g] >= 0 && gap > this.groupGap[g]) this.groupGap[g] = gap;
  }

  /** Gaps in leaf p (and the first gap of the leaf above) shrank: their maxima may have fallen. */
  private shrank(p: number): void {
    for (let q = p; q <= p + 1 && q < this.leaves; q++) {
      const old = this.leafGap[q];
      this.leafGap[q] = -1;
      // A group's maximum falls only with the leaf that held it (a leaf not known may hold it).
      const g = q >> GROUP_SHIFT;
      if (old < 0 || old >= this.groupGap[g]) this.groupGap[g] = -1;
    }
  }

  /** Leaf p changed in some way: nothing about its gaps (or the first above it) is known. */
  private unknown(p: number): void {
    for (let q = p; q <= p + 1 && q < this.leaves; q++) {
      this.leafGap[q] = -1;
      this.groupGap[q >> GROUP_SHIFT] = -1;
    }
  }

  private insertAt(p: number, i: number, lo: number, hi: number, tag: number): void {
    if (this.count[this.order[p]] === LEAF) {
      this.split(p);
      if (i > LEAF / 2) {
        p++;
        i -= LEAF / 2;
      }
    }
    const base = this.at(p, 0);
    const c = this.count[this.order[p]]++;
    const r = this.r;
    r.copyWithin(base + (i + 1) * W, base + i * W, base + c * W);
    r[base + i * W] = lo;
    r[base + i * W + 1] = hi;
    r[base + i * W + 2] = tag;
    if (i === 0) this.firstLo[p] = lo;
    this.shrank(p);
    this.p = p;
    this.i = i;
  }

  /** Moves the upper half of leaf p into a new leaf just after it. */
  private split(p: number): void {
    const right = this.newLeaf();
    const from = this.at(p, LEAF / 2);
    this.r.copyWithin(right * LEAF * W, from, from + (LEAF / 2) * W);
    this.count[this.order[p]] = LEAF / 2;
    this.count[right] = LEAF / 2;
    this.placeLeaf(p + 1, right);
    this.unknown(p);
  }

  /** Joins sparse leaf p with a neighbour when both fit in one leaf of MERGED ranges. */
  private mergeAround(p: number): void {
    const c = this.count[this.order[p]];
    if (p + 1 < this.leaves && c + this.count[this.order[p + 1]] <= MERGED) this.merge(p);
    else if (p > 0 && c + this.count[this.order[p - 1]] <= MERGED) this.merge(p - 1);
  }

  /** Appends leaf p + 1 to leaf p. */
  private merge(p: number): void {
    const left = this.order[p];
    const right = this.order[p + 1];
    const n = this.count[right];
    const from = right * LEAF * W;
    this.r.copyWithin(this.at(p, this.count[left]), from, from + n * W);
    this.count[left] += n;
    this.count[right] = 0;
    this.dropLeaf(p + 1);
    this.unknown(p);
  }

  private dropLeaf(p: number): void {
    this.spareLeaves.push(this.order[p]);
    this.order.copyWithin(p, p + 1, this.leaves);
    this.firstLo.copyWithin(p, p + 1, this.leaves);
    this.leafGap.copyWithin(p, p + 1, this.leaves);
    this.leaves--;
    if (p < this.leaves) this.leafGap[p] = -1;
    // Positions from p on moved: every group from p's on changed.
    this.groupGap.fill(-1, p >> GROUP_SHIFT);
  }

  private placeLeaf(p: number, leaf: number): void {
    if (this.leaves === this.order.length) {
      this.order = grow(this.order);
      this.firstLo = grow(this.firstLo);
      this.leafGap = grow(this.leafGap);
      this.groupGap = new Int32Array((this.order.length >> GROUP_SHIFT) + 1).fill(-1);
    }
    this.order.copyWithin(p + 1, p, this.leaves);
    this.firstLo.copyWithin(p + 1, p, this.leaves);
    this.leafGap.copyWithin(p + 1, p, this.leaves);
    this.order[p] = leaf;
    this.firstLo[p] = this.r[leaf * LEAF * W];
    this.leafGap[p] = -1;
    this.leaves++;
    this.groupGap.fill(-1, p >> GROUP_SHIFT);
  }

  private newLeaf(): number {
    const leaf = this.spareLeaves.length > 0 ? this.spareLeaves.pop()! : this.leafIds++;
    if (leaf === this.count.length) {
      this.count = grow(this.count);
      this.r = grow(this.r);
    }
    this.count[leaf] = 0;
    return leaf;
  }
}

function grow(a: Int32Array): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}
