/**
 * A red-black tree of inclusive page ranges [lo, hi], ordered by lo, as `drivers/iommu/iova.c`
 * keeps its `struct iova` nodes in an `rb_root` (lib/rbtree.c's insert and erase rebalancing,
 * written after CLRS with a sentinel). Nodes live in typed arrays and are named by index; 0 is
 * the sentinel. Not a plugin: the iova policies build on it.
 *
 * With `augmented`, each node also keeps `gap` (free pages between its predecessor and itself)
 * and `maxGap` (the largest gap in its subtree), kept up through rotations the way an
 * `RB_DECLARE_CALLBACKS_MAX` augmented rbtree is; `highestFit` then finds the highest place
 * for a request below a limit by pruning subtrees whose largest gap is too small: O(log n).
 */

export const NIL = 0;

export class RangeTree {
  lo = new Int32Array(64);
  hi = new Int32Array(64);
  tag = new Uint8Array(64);
  left = new Int32Array(64);
  right = new Int32Array(64);
  parent = new Int32Array(64);
  red = new Uint8Array(64);
  gap = new Int32Array(64);
  maxGap = new Int32Array(64).fill(-1);
  root = NIL;
  size = 0;
  private used = 1;
  private readonly spare: number[] = [];

  constructor(readonly augmented: boolean) {}

  /** The node containing `page`, or NIL; `visits` counts the nodes compared. */
  visits = 0;

  find(page: number): number {
    let x = this.root;
    let v = 0;
    while (x !== NIL) {
      v++;
      if (page < this.lo[x]) x = this.left[x];
      else if (page > this.hi[x]) x = this.right[x];
      else break;
    }
    this.visits = v;
    return x;
  }

  /** The node with the largest lo ≤ page, or NIL. */
  floor(page: number): number {
    let x = this.root;
    let best = NIL;
    while (x !== NIL) {
      if (this.lo[x] <= page) {
        best = x;
        x = this.right[x];
      } else x = this.left[x];
    }
    return best;
  }

  first(): number {
    let x = this.root;
    if (x === NIL) return NIL;
    while (this.left[x] !== NIL) x = this.left[x];
    return x;
  }

  last(): number {
    let x = this.root;
    if (x === NIL) return NIL;
    while (this.right[x] !== NIL) x = this.right[x];
    return x;
  }

  /** rb_prev. */
  prev(x: number): number {
    if (this.left[x] !== NIL) {
      x = this.left[x];
      while (this.right[x] !== NIL) x = this.right[x];
      return x;
    }
    let p = this.parent[x];
    while (p !== NIL && x === this.left[p]) {
      x = p;
      p = this.parent[p];
    }
    return p;
  }

  /** rb_next. */
  next(x: number): number {
    if (this.right[x] !== NIL) {
      x = this.right[x];
      while (this.left[x] !== NIL) x = this.left[x];
      return x;
    }
    let p = this.parent[x];
    while (p !== NIL && x === this.right[p]) {
      x = p;
      p = this.parent[p];
    }
    return p;
  }

  /** Inserts [lo, hi] (disjoint from every node); returns the node. `visits` counts the descent. */
  insert(lo: number, hi: number, tag: number): number {
    const z = this.newNode(lo, hi, tag);
    let y = NIL;
    let x = this.root;
    let v = 0;
    while (x !== NIL) {
      v++;
      y = x;
      x = lo < this.lo[x] ? this.left[x] : this.right[x];
    }
    this.visits = v;
    this.parent[z] = y;
    if (y === NIL) this.root = z;
    else if (lo < this.lo[y]) this.left[y] = z;
    else this.right[y] = z;
    this.size++;
    this.insertFixup(z);
    if (this.augmented) {
      this.refreshGap(z);
      this.refreshGap(this.next(z));
    }
    return z;
  }

  /** Erases node z. */
  erase(z: number): void {
    const succ = this.augmented ? this.next(z) : NIL;
    let y = z;
    let yRed = this.red[y];
    let x: number;
    // Where the augmented maxima must be recomputed upward from.
    let from: number;
    if (this.left[z] === NIL) {
      x = this.right[z];
      from = this.parent[z];
      this.transplant(z, x);
    } else if (this.right[z] === NIL) {
      x = this.left[z];
      from = this.parent[z];
      this.transplant(z, x);
    } else {
      y = this.right[z];
      while (this.left[y] !== NIL) y = this.left[y];
      yRed = this.red[y];
      x = this.right[y];
      if (this.parent[y] === z) {
        this.parent[x] = y;
        from = y;
      } else {
        from = this.parent[y];
        this.transplant(y, x);
        this.right[y] = this.right[z];
        this.parent[this.right[y]] = y;
      }
      this.transplant(z, y);
      this.left[y] = this.left[z];
      this.parent[this.left[y]] = y;
      this.red[y] = this.red[z];
    }
    this.size--;
    if (this.augmented) this.pullUp(from);
    if (!yRed) this.eraseFixup(x);
    this.parent[NIL] = NIL;
    this.free(z);
    if (this.augmented && succ !== NIL) this.refreshGap(succ);
  }

  /** Changes a node's bounds in place (it must keep its order among the others). */
  reshape(x: number, lo: number, hi: number): void {
    this.lo[x] = lo;
    this.hi[x] = hi;
    if (this.augmented) {
      this.refreshGap(x);
      this.refreshGap(this.next(x));
    }
  }

  /** Free pages just below node x (from its predecessor's end, or page 0). */
  gapBelow(x: number): number {
    const p = this.prev(x);
    return this.lo[x] - (p === NIL ? 0 : this.hi[p] + 1);
  }

  /**
   * Augmented search: the highest start s with s & ~mask === s, s + size ≤ limit, and [s, s + size)
   * inside one gap; returns the node just above that gap (its `foundAt` is s), or NIL.
   * `visits` counts the nodes looked at.
   */
  foundAt = -1;

  highestFit(size: number, mask: number, limit: number): number {
    this.visits = 0;
    this.foundAt = -1;
    return this.searchHighest(this.root, size, mask, limit);
  }

  private searchHighest(x: number, size: number, mask: number, limit: number): number {
    while (x !== NIL) {
      this.visits++;
      if (this.maxGap[x] < size) return NIL;
      const gapStart = this.lo[x] - this.gap[x];
      if (gapStart >= limit) {
        // x and everything right of it lie at or above the limit.
        x = this.left[x];
        continue;
      }
      const r = this.searchHighest(this.right[x], size, mask, limit);
      if (r !== NIL) return r;
      const high = Math.min(this.lo[x], limit);
      if (high >= size) {
        const s = (high - size) & mask;
        if (s >= gapStart) {
          this.foundAt = s;
          return x;
        }
      }
      x = this.left[x];
    }
    return NIL;
  }

  private newNode(lo: number, hi: number, tag: number): number {
    let z = this.spare.pop();
    if (z === undefined) {
      z = this.used++;
      if (z >= this.lo.length) this.grow();
    }
    this.lo[z] = lo;
    this.hi[z] = hi;
    this.tag[z] = tag;
    this.left[z] = NIL;
    this.right[z] = NIL;
    this.red[z] = 1;
    this.gap[z] = 0;
    this.maxGap[z] = 0;
    return z;
  }

  private free(z: number): void {
    this.left[z] = this.right[z] = this.parent[z] = NIL;
    this.spare.push(z);
  }

  private grow(): void {
    const n = this.lo.length * 2;
    const g32 = (a: Int32Array) => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    const g8 = (a: Uint8Array) => {
      const b = new Uint8Array(n);
      b.set(a);
      return b;
    };
    this.lo = g32(this.lo);
    this.hi = g32(this.hi);
    this.left = g32(this.left);
    this.right = g32(this.right);
    this.parent = g32(this.parent);
    this.gap = g32(this.gap);
    this.maxGap = g32(this.maxGap);
    this.tag = g8(this.tag);
    this.red = g8(this.red);
  }

  /** Recomputes x's own gap, then the maxima from x up to the root. */
  private refreshGap(x: number): void {
    if (x === NIL) return;
    const p = this.prev(x);
    this.gap[x] = this.lo[x] - (p === NIL ? 0 : this.hi[p] + 1);
    this.pullUp(x);
  }

  private pullUp(x: number): void {
    while (x !== NIL) {
      const m = Math.max(this.gap[x], this.maxGap[this.left[x]], this.maxGap[this.right[x]]);
      this.maxGap[x] = m;
      x = this.parent[x];
    }
  }

  private recompute(x: number): void {
    this.maxGap[x] = Math.max(this.gap[x], this.maxGap[this.left[x]], this.maxGap[this.right[x]]);
  }

  private rotateLeft(x: number): void {
    const y = this.right[x];
    this.right[x] = this.left[y];
    if (this.left[y] !== NIL) this.parent[this.left[y]] = x;
    this.parent[y] = this.parent[x];
    if (this.parent[x] === NIL) this.root = y;
    else if (x === this.left[this.parent[x]]) this.left[this.parent[x]] = y;
    else this.right[this.parent[x]] = y;
    this.left[y] = x;
    this.parent[x] = y;
    if (this.augmented) {
      this.recompute(x);
      this.recompute(y);
    }
  }

  private rotateRight(x: number): void {
    const y = this.left[x];
    this.left[x] = this.right[y];
    if (this.right[y] !== NIL) this.parent[this.right[y]] = x;
    this.parent[y] = this.parent[x];
    if (this.parent[x] === NIL) this.root = y;
    else if (x === this.right[this.parent[x]]) this.right[this.parent[x]] = y;
    else this.left[this.parent[x]] = y;
    this.right[y] = x;
    this.parent[x] = y;
    if (this.augmented) {
      this.recompute(x);
      this.recompute(y);
    }
  }

  private insertFixup(z: number): void {
    while (this.red[this.parent[z]]) {
      const p = this.parent[z];
      const g = this.parent[p];
      if (p === this.left[g]) {
        const u = this.right[g];
        if (this.red[u]) {
          this.red[p] = 0;
          this.red[u] = 0;
          this.red[g] = 1;
          z = g;
        } else {
          if (z === this.right[p]) {
            z = p;
            this.rotateLeft(z);
          }
          this.red[this.parent[z]] = 0;
          this.red[this.parent[this.parent[z]]] = 1;
          this.rotateRight(this.parent[this.parent[z]]);
        }
      } else {
        const u = this.left[g];
        if (this.red[u]) {
          this.red[p] = 0;
          this.red[u] = 0;
          this.red[g] = 1;
          z = g;
        } else {
          if (z === this.left[p]) {
            z = p;
            this.rotateRight(z);
          }
          this.red[this.parent[z]] = 0;
          this.red[this.parent[this.parent[z]]] = 1;
          this.rotateLeft(this.parent[this.parent[z]]);
        }
      }
    }
    this.red[this.root] = 0;
  }

  private transplant(u: number, v: number): void {
    const p = this.parent[u];
    if (p === NIL) this.root = v;
    else if (u === this.left[p]) this.left[p] = v;
    else this.right[p] = v;
    this.parent[v] = p;
  }

  private eraseFixup(x: number): void {
    while (x !== this.root && !this.red[x]) {
      const p = this.parent[x];
      if (x === this.left[p]) {
        let w = this.right[p];
        if (this.red[w]) {
          this.red[w] = 0;
          this.red[p] = 1;
          this.rotateLeft(p);
          w = this.right[p];
        }
        if (!this.red[this.left[w]] && !this.red[this.right[w]]) {
          this.red[w] = 1;
          x = p;
        } else {
          if (!this.red[this.right[w]]) {
            this.red[this.left[w]] = 0;
            this.red[w] = 1;
            this.rotateRight(w);
            w = this.right[p];
          }
          this.red[w] = this.red[p];
          this.red[p] = 0;
          this.red[this.right[w]] = 0;
          this.rotateLeft(p);
          x = this.root;
        }
      } else {
        let w = this.left[p];
        if (this.red[w]) {
          this.red[w] = 0;
          this.red[p] = 1;
          this.rotateRight(p);
          w = this.left[p];
        }
        if (!this.red[this.right[w]] && !this.red[this.left[w]]) {
          this.red[w] = 1;
          x = p;
        } else {
          if (!this.red[this.left[w]]) {
            this.red[this.right[w]] = 0;
            this.red[w] = 1;
            this.rotateLeft(w);
            w = this.left[p];
          }
          this.red[w] = this.red[p];
          this.red[p] = 0;
          this.red[this.left[w]] = 0;
          this.rotateRight(p);
          x = this.root;
        }
      }
    }
    this.red[x] = 0;
  }
}
