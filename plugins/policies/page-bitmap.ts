/**
 * A bitmap over the pages of a DVMA window (bit set = page free), shared by the bitmap-based
 * policies. Searches skip whole 32-bit words and find bits with `Math.clz32`, so a run is found
 * without visiting every page. Not a plugin: a helper the policy files import.
 */

/** Index of the lowest set bit of a non-zero 32-bit word. */
const ctz = (x: number) => 31 - Math.clz32(x & -x);

/** Set bits in a 32-bit word. */
function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** Bits [b, b + cnt) of one word (cnt ≤ 32). */
const wordMask = (b: number, cnt: number) => (cnt === 32 ? -1 : ((1 << cnt) - 1) << b);

export class PageBitmap {
  private readonly words: Uint32Array;

  constructor(readonly pages: number) {
    this.words = new Uint32Array(Math.ceil(pages / 32));
  }

  isSet(p: number): boolean {
    return (this.words[p >>> 5] & (1 << (p & 31))) !== 0;
  }

  set(start: number, n: number): void {
    if (n === 1) {
      this.words[start >>> 5] |= 1 << (start & 31);
      return;
    }
    const end = start + n;
    for (let p = start; p < end; ) {
      const cnt = Math.min(32 - (p & 31), end - p);
      this.words[p >>> 5] |= wordMask(p & 31, cnt);
      p += cnt;
    }
  }

  clear(start: number, n: number): void {
    if (n === 1) {
      this.words[start >>> 5] &= ~(1 << (start & 31));
      return;
    }
    const end = start + n;
    for (let p = start; p < end; ) {
      const cnt = Math.min(32 - (p & 31), end - p);
      this.words[p >>> 5] &= ~wordMask(p & 31, cnt);
      p += cnt;
    }
  }

  /** Set bits in [start, start + n). */
  count(start: number, n: number): number {
    const end = start + n;
    let total = 0;
    for (let p = start; p < end; ) {
      const cnt = Math.min(32 - (p & 31), end - p);
      total += popcount(this.words[p >>> 5] & wordMask(p & 31, cnt));
      p += cnt;
    }
    return total;
  }

  /** First set bit in [from, limit), or -1. */
  nextSet(from: number, limit: number): number {
    if (from >= limit) return -1;
    let w = from >>> 5;
    let word = this.words[w] & (-1 << (from & 31));
    for (;;) {
      if (word !== 0) {
        const p = (w << 5) + ctz(word);
        return p < limit ? p : -1;
      }
      w++;
      if (w << 5 >= limit) return -1;
      word = this.words[w];
    }
  }

  /** First clear bit in [from, limit), or `limit`. */
  nextClear(from: number, limit: number): number {
    if (from >= limit) return limit;
    let w = from >>> 5;
    let word = ~this.words[w] & (-1 << (from & 31));
    for (;;) {
      if (word !== 0) return Math.min((w << 5) + ctz(word), limit);
      w++;
      if (w << 5 >= limit) return limit;
      word = ~this.words[w];
    }
  }

  /**
   * First start s in [from, startLimit), a multiple of `align` (a power of two), with bits
   * [s, s + n) all set and s + n ≤ endLimit; or -1.
   */
  findRun(from: number, startLimit: number, endLimit: number, n: number, align: number): number {
    const mask = align - 1;
    let pos = from;
    for (;;) {
      let s = this.nextSet(pos, startLimit);
      if (s < 0) return -1;
      if ((s & mask) !== 0) {
        s = (s + mask) & ~mask;
        if (s >= startLimit) return -1;
        if (!this.isSet(s)) {
          pos = s;
          continue;
        }
      }
      const end = s + n;
      if (end > endLimit) return -1;
      if (n === 1) return s;
      const used = this.nextClear(s + 1, end);
      if (used >= end) return s;
      pos = used + 1;
    }
  }

  /** Longest run of set bits in [from, limit). */
  longestRun(from: number, limit: number): number {
    let best = 0;
    let p = this.nextSet(from, limit);
    while (p >= 0) {
      const end = this.nextClear(p, limit);
      if (end - p > best) best = end - p;
      p = this.nextSet(end, limit);
    }
    return best;
  }
}
