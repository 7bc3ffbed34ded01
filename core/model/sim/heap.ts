/**
 * Binary min-heap of (time, seq, id) triples over parallel typed arrays.
 * Ordering is by time, then by insertion sequence, so equal times pop FIFO.
 * Entries move as a "hole" (one write per level), never as objects: no allocation per push/pop.
 * Every unused time cell holds +Infinity, so a missing right child never wins and the child
 * choice in pop() is branch-free (random keys make that branch a coin flip for the CPU).
 */

// `bit` only retypes a boolean; the `|` and `&` applied to it make 0/1 integers without a branch.
type Bit = number;
const bit = (b: boolean): Bit => b as unknown as Bit;

export class EventHeap {
  private times: Float64Array;
  private seqs: Float64Array; // float, not u32: a long run can exceed 2^32 insertions
  private ids: Int32Array;
  private n = 0;
  private nextSeq = 0;

  constructor(initialCapacity = 1024) {
    const cap = Math.max(4, initialCapacity | 0);
    this.times = new Float64Array(cap).fill(Number.POSITIVE_INFINITY);
    this.seqs = new Float64Array(cap);
    this.ids = new Int32Array(cap);
  }

  get size(): number {
    return this.n;
  }

  get capacity(): number {
    return this.times.length;
  }

  /** Time of the earliest entry; only valid when size > 0. */
  peekTime(): number {
    return this.times[0];
  }

  /** Id of the earliest entry; only valid when size > 0. */
  peekId(): number {
    return this.ids[0];
  }

  push(time: number, id: number): void {
    if (this.n === this.times.length) this.grow();
    const times = this.times;
    const seqs = this.seqs;
    const ids = this.ids;
    let i = this.n++;
    // Sift up. The new entry has the largest seq, so it stops below any equal time: FIFO ties.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = times[parent];
      if (pt <= time) break;
      times[i] = pt;
      seqs[i] = seqs[parent];
      ids[i] = ids[parent];
      i = parent;
    }
    times[i] = time;
    seqs[i] = this.nextSeq++;
    ids[i] = id;
  }

  /** Removes the earliest entry and returns its id; only valid when size > 0. */
  pop(): number {
    const times = this.times;
    const seqs = this.seqs;
    const ids = this.ids;
    const top = ids[0];
    const n = --this.n;
    const t = times[n];
    const s = seqs[n];
    const id = ids[n];
    times[n] = Number.POSITIVE_INFINITY;
    // Sift the former last entry down from the root (when n is 0 this writes the sentinel back).
    let i = 0;
    let c = 1;
    while (c < n) {
      const r = c + 1;
      const ct = times[c];
      const rt = times[r];
      c += bit(rt < ct) | (bit(rt === ct) & bit(seqs[r] < seqs[c]));
      const mt = times[c];
      if (t < mt || (t === mt && s < seqs[c])) break;
      times[i] = mt;
      seqs[i] = seqs[c];
      ids[i] = ids[c];
      i = c;
      c = 2 * i + 1;
    }
    times[i] = t;
    seqs[i] = s;
    ids[i] = id;
    return top;
  }

  /** Calls `fn` for every entry, in heap (not time) order. */
  forEach(fn: (time: number, id: number) => void): void {
    for (let i = 0; i < this.n; i++) fn(this.times[i]!, this.ids[i]!);
  }

  /** Keeps only entries whose id passes `keep`, then re-heapifies in O(n); order is preserved. */
  retain(keep: (id: number) => boolean): void {
    const times = this.times;
    const seqs = this.seqs;
    const ids = this.ids;
    const n = this.n;
    let w = 0;
    for (let r = 0; r < n; r++) {
      if (!keep(ids[r])) continue;
      times[w] = times[r];
      seqs[w] = seqs[r];
      ids[w] = ids[r];
      w++;
    }
    times.fill(Number.POSITIVE_INFINITY, w, n);
    this.n = w;
    // Floyd's heapify: sift every internal node down, deepest first.
    for (let start = (w >> 1) - 1; start >= 0; start--) {
      const t = times[start];
      const s = seqs[start];
      const id = ids[start];
      let i = start;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= w) break;
        const r = c + 1;
        if (r < w && (times[r] < times[c] || (times[r] === times[c] && seqs[r] < seqs[c]))) c = r;
        if (t < times[c] || (t === times[c] && s < seqs[c])) break;
        times[i] = times[c];
        seqs[i] = seqs[c];
        ids[i] = ids[c];
        i = c;
      }
      times[i] = t;
      seqs[i] = s;
      ids[i] = id;
    }
  }

  private grow(): void {
    const cap = this.times.length * 2;
    const times = new Float64Array(cap).fill(Number.POSITIVE_INFINITY);
    const seqs = new Float64Array(cap);
    const ids = new Int32Array(cap);
    times.set(this.times);
    seqs.set(this.seqs);
    ids.set(this.ids);
    this.times = times;
    this.seqs = seqs;
    this.ids = ids;
  }
}
