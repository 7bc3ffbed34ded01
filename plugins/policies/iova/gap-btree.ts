/**
 * A B-tree of inclusive page ranges that tracks free gaps in its internal nodes, after the
 * maple tree (lib/maple_tree.c): leaves of up to 16 ranges (`maple_range_64` has 16 slots),
 * internal nodes of up to 10 children (`maple_arange_64`, the allocation-range node, has 10)
 * each with the largest gap below it (`ma_gaps`); a gap search (`mas_empty_area_rev`, top down)
 * descends only into children whose gap can hold the request. Here a child also records where
 * its lowest gap starts, so children wholly above a limit are skipped. A leaf that empties
 * leaves its parent and a sparse leaf merges into a neighbour under the same parent (the maple
 * tree rebalances more eagerly). Ranges keep their handle while they move between leaves.
 * Not a plugin: iova-maple builds on it.
 */

const LEAF = 16;
const INNER = 10;
/** Slots per node: one more than either kind holds, for the moment before a split. */
const SLOTS = LEAF + 1;

export class GapBTree {
  // Per range handle (0 = none).
  lo = new Int32Array(64);
  hi = new Int32Array(64);
  tag = new Uint8Array(64);
  private gapOf = new Int32Array(64);
  private leafOf = new Int32Array(64);
  private handles = 1;
  private readonly spareHandles: number[] = [];
  // Per node id (0 = none).
  private slots = new Int32Array(8 * SLOTS);
  private count = new Int32Array(8);
  private leaf = new Uint8Array(8);
  private parent = new Int32Array(8);
  private maxGap = new Int32Array(8);
  private gapStart = new Int32Array(8);
  private firstLo = new Int32Array(8);
  private prevLeaf = new Int32Array(8);
  private nextLeaf = new Int32Array(8);
  private nodes = 1;
  private readonly spareNodes: number[] = [];
  private root: number;
  size = 0;
  visits = 0;
  foundAt = -1;

  constructor() {
    this.root = this.newNode(true);
  }

  find(page: number): number {
    let x = this.root;
    let v = 1;
    while (!this.leaf[x]) {
      x = this.childFor(x, page);
      v++;
    }
    this.visits = v;
    const base = x * SLOTS;
    for (let i = this.count[x] - 1; i >= 0; i--) {
      const h = this.slots[base + i];
      if (this.lo[h] <= page) return this.hi[h] >= page ? h : 0;
    }
    return 0;
  }

  first(): number {
    let x = this.root;
    while (!this.leaf[x]) x = this.slots[x * SLOTS];
    return this.count[x] > 0 ? this.slots[x * SLOTS] : 0;
  }

  prev(h: number): number {
    const x = this.leafOf[h];
    const i = this.indexIn(x, h);
    if (i > 0) return this.slots[x * SLOTS + i - 1];
    const p = this.prevLeaf[x];
    return p === 0 ? 0 : this.slots[p * SLOTS + this.count[p] - 1];
  }

  next(h: number): number {
    const x = this.leafOf[h];
    const i = this.indexIn(x, h);
    if (i + 1 < this.count[x]) return this.slots[x * SLOTS + i + 1];
    const n = this.nextLeaf[x];
    return n === 0 ? 0 : this.slots[n * SLOTS];
  }

  insert(lo: number, hi: number, tag: number): number {
    const h = this.newHandle(lo, hi, tag);
    let x = this.root;
    let v = 1;
    while (!this.leaf[x]) {
      x = this.childFor(x, lo);
      v++;
    }
    this.visits = v;
    let i = this.count[x];
    while (i > 0 && this.lo[this.slots[x * SLOTS + i - 1]] > lo) i--;
    this.insertSlot(x, i, h);
    this.leafOf[h] = x;
    this.size++;
    this.regap(h);
    const s = this.next(h);
    if (s !== 0) this.regap(s);
    if (this.count[x] > LEAF) this.split(x);
    return h;
  }

  erase(h: number): void {
    const succ = this.next(h);
    const x = this.leafOf[h];
    this.removeSlot(x, this.indexIn(x, h));
    this.size--;
    this.spareHandles.push(h);
    if (this.count[x] === 0 && x !== this.root) this.dropNode(x);
    else {
      this.refresh(x);
      if (this.count[x] < LEAF >> 2) this.mergeLeaf(x);
    }
    if (succ !== 0) this.regap(succ);
  }

  reshape(h: number, lo: number, hi: number): void {
    this.lo[h] = lo;
    this.hi[h] = hi;
    this.regap(h);
    const s = this.next(h);
    if (s !== 0) this.regap(s);
  }

  highestFit(size: number, mask: number, limit: number): number {
    this.visits = 0;
    this.foundAt = -1;
    return this.search(this.root, size, mask, limit);
  }

  private search(x: number, size: number, mask: number, limit: number): number {
    this.visits++;
    if (this.maxGap[x] < size || this.gapStart[x] >= limit) return 0;
    const base = x * SLOTS;
    for (let i = this.count[x] - 1; i >= 0; i--) {
      const c = this.slots[base + i];
      if (!this.leaf[x]) {
        const found = this.search(c, size, mask, limit);
        if (found !== 0) return found;
        continue;
      }
      const gs = this.lo[c] - this.gapOf[c];
      if (gs >= limit || this.gapOf[c] < size) continue;
      const high = Math.min(this.lo[c], limit);
      if (high < size) continue;
      const s = (high - size) & mask;
      if (s >= gs) {
        this.foundAt = s;
        return c;
      }
    }
    return 0;
  }

  /** The child of internal node x whose key range holds `page`. */
  private childFor(x: number, page: number): number {
    const base = x * SLOTS;
    let i = this.count[x] - 1;
    while (i > 0 && this.firstLo[this.slots[base + i]] > page) i--;
    return this.slots[base + i];
  }

  private indexIn(x: number, h: number): number {
    const base = x * SLOTS;
    let i = 0;
    while (this.slots[base + i] !== h) i++;
    return i;
  }

  /** Recomputes h's gap from its predecessor, then its leaf's figures upward. */
  private regap(h: number): void {
    const p = this.prev(h);
    this.gapOf[h] = this.lo[h] - (p === 0 ? 0 : this.hi[p] + 1);
    this.refresh(this.leafOf[h]);
  }

  /** Recomputes node x's max gap, lowest gap start and first key, then its ancestors'. */
  private refresh(x: number): void {
    while (x !== 0) {
      const base = x * SLOTS;
      const n = this.count[x];
      let m = -1;
      if (this.leaf[x]) {
        for (let i = 0; i < n; i++) m = Math.max(m, this.gapOf[this.slots[base + i]]);
        const f = this.slots[base];
        this.firstLo[x] = n > 0 ? this.lo[f] : 0;
        this.gapStart[x] = n > 0 ? this.lo[f] - this.gapOf[f] : 0;
      } else {
        for (let i = 0; i < n; i++) m = Math.max(m, this.maxGap[this.slots[base + i]]);
        const f = this.slots[base];
        this.firstLo[x] = this.firstLo[f];
        this.gapStart[x] = this.gapStart[f];
      }
      this.maxGap[x] = m;
      x = this.parent[x];
    }
  }

  private insertSlot(x: number, i: number, v: number): void {
    const base = x * SLOTS;
    this.slots.copyWithin(base + i + 1, base + i, base + this.count[x]);
    this.slots[base + i] = v;
    this.count[x]++;
  }

  private removeSlot(x: number, i: number): void {
    const base = x * SLOTS;
    this.slots.copyWithin(base + i, base + i + 1, base + this.count[x]);
    this.count[x]--;
  }

  /** Splits an overfull node in two; the new right half joins the parent after it. */
  private split(x: number): void {
    const y = this.newNode(this.leaf[x] === 1);
    const n = this.count[x];
    const keep = n >> 1;
    const xb = x * SLOTS;
    const yb = y * SLOTS;
    for (let i = keep; i < n; i++) {
      const v = this.slots[xb + i];
      this.slots[yb + i - keep] = v;
      if (this.leaf[x]) this.leafOf[v] = y;
      else this.parent[v] = y;
    }
    this.count[y] = n - keep;
    this.count[x] = keep;
    if (this.leaf[x]) {
      const after = this.nextLeaf[x];
      this.nextLeaf[y] = after;
      this.prevLeaf[y] = x;
      if (after !== 0) this.prevLeaf[after] = y;
      this.nextLeaf[x] = y;
    }
    let p = this.parent[x];
    if (p === 0) {
      p = this.newNode(false);
      this.slots[p * SLOTS] = x;
      this.count[p] = 1;
      this.parent[x] = p;
      this.root = p;
    }
    this.parent[y] = p;
    this.insertSlot(p, this.indexIn(p, x) + 1, y);
    this.refresh(y);
    this.refresh(x);
    if (this.count[p] > INNER) this.split(p);
  }

  /** Removes an empty node from its parent (and the parent, if that empties it). */
  private dropNode(x: number): void {
    const p = this.parent[x];
    if (this.leaf[x]) {
      const a = this.prevLeaf[x];
      const b = this.nextLeaf[x];
      if (a !== 0) this.nextLeaf[a] = b;
      if (b !== 0) this.prevLeaf[b] = a;
    }
    this.removeSlot(p, this.indexIn(p, x));
    this.spareNodes.push(x);
    if (this.count[p] === 0 && p !== this.root) this.dropNode(p);
    else {
      this.refresh(p);
      this.shrinkRoot();
    }
  }

  /** Moves a sparse leaf's ranges into a neighbour under the same parent when they fit. */
  private mergeLeaf(x: number): void {
    const p = this.parent[x];
    if (p === 0) return;
    const i = this.indexIn(p, x);
    const base = p * SLOTS;
    const into =
      i > 0 && this.count[this.slots[base + i - 1]] + this.count[x] <= LEAF
        ? this.slots[base + i - 1]
        : i + 1 < this.count[p] && this.count[this.slots[base + i + 1]] + this.count[x] <= LEAF
          ? this.slots[base + i + 1]
          : 0;
    if (into === 0) return;
    const before = this.nextLeaf[into] === x;
    for (let k = 0; k < this.count[x]; k++) {
      const h = this.slots[x * SLOTS + k];
      if (before) this.insertSlot(into, this.count[into], h);
      else this.insertSlot(into, k, h);
      this.leafOf[h] = into;
    }
    this.count[x] = 0;
    this.dropNode(x);
    this.refresh(into);
  }

  private shrinkRoot(): void {
    while (!this.leaf[this.root] && this.count[this.root] === 1) {
      const old = this.root;
      this.root = this.slots[old * SLOTS];
      this.parent[this.root] = 0;
      this.spareNodes.push(old);
    }
  }

  private newHandle(lo: number, hi: number, tag: number): number {
    let h = this.spareHandles.pop();
    if (h === undefined) {
      h = this.handles++;
      if (h >= this.lo.length) {
        const n = this.lo.length * 2;
        this.lo = grow32(this.lo, n);
        this.hi = grow32(this.hi, n);
        this.gapOf = grow32(this.gapOf, n);
        this.leafOf = grow32(this.leafOf, n);
        const t = new Uint8Array(n);
        t.set(this.tag);
        this.tag = t;
      }
    }
    this.lo[h] = lo;
    this.hi[h] = hi;
    this.tag[h] = tag;
    return h;
  }

  private newNode(leaf: boolean): number {
    let x = this.spareNodes.pop();
    if (x === undefined) {
      x = this.nodes++;
      if (x >= this.count.length) {
        const n = this.count.length * 2;
        this.slots = grow32(this.slots, n * SLOTS);
        this.count = grow32(this.count, n);
        this.parent = grow32(this.parent, n);
        this.maxGap = grow32(this.maxGap, n);
        this.gapStart = grow32(this.gapStart, n);
        this.firstLo = grow32(this.firstLo, n);
        this.prevLeaf = grow32(this.prevLeaf, n);
        this.nextLeaf = grow32(this.nextLeaf, n);
        const l = new Uint8Array(n);
        l.set(this.leaf);
        this.leaf = l;
      }
    }
    this.leaf[x] = leaf ? 1 : 0;
    this.count[x] = 0;
    this.parent[x] = 0;
    this.maxGap[x] = -1;
    this.prevLeaf[x] = 0;
    this.nextLeaf[x] = 0;
    return x;
  }
}

function grow32(a: Int32Array, n: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}
