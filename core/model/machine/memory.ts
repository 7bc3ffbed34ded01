/** Physical memory as 8 KiB pages: an owner per page and a cheap content model. */

export const PAGE_SHIFT = 13;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
/** 64-bit words per page: the size of one sun4v IO page list (Linux PGLIST_NENTS). */
export const WORDS_PER_PAGE = PAGE_SIZE / 8;

/** Owner value of a page nobody holds. */
export const OWNER_FREE = -1;
/** Owner value of pages the hypervisor keeps for itself. */
export const OWNER_HV = 0x7fff;

/**
 * Page contents are a 32-bit tag per page (who wrote it last), which is enough to prove that a DMA
 * wrote exactly the pages it names. Pages used as data structures (IO page lists, rings) get a
 * lazily allocated array of 1024 64-bit words, held as float64 (exact for values below 2^53).
 *
 * Allocation is first fit over a sorted list of maximal free runs (the same pages a scan from
 * page 0 would pick), so booting n domains examines O(n) runs, not O(n) pages per domain.
 */
export class PhysMemory {
  readonly pages: number;
  /** Owner of each page; written only through allocate/releaseAll (the run lists follow it). */
  readonly owner: Int16Array;
  readonly content: Uint32Array;
  /** Free runs examined by allocate since construction: the boot-work figure tests count. */
  probes = 0;
  private readonly wordPages = new Map<number, Float64Array>();
  /** Maximal free runs in page order, flat: [start0, length0, start1, length1, ...]. */
  private free: number[];
  /** Runs each owner holds, flat as in `free`. */
  private readonly held = new Map<number, number[]>();

  constructor(pages: number) {
    if (!Number.isInteger(pages) || pages <= 0 || pages > 0x7fffffff) {
      throw new RangeError(`physical memory must be 1..2^31-1 pages, got ${pages}`);
    }
    this.pages = pages;
    this.owner = new Int16Array(pages).fill(OWNER_FREE);
    this.content = new Uint32Array(pages);
    this.free = [0, pages];
  }

  /** Gives `npages` contiguous free pages to `owner` (first fit); returns the first page or -1. */
  allocate(owner: number, npages: number): number {
    if (!(npages > 0)) return -1;
    const f = this.free;
    for (let i = 0; i < f.length; i += 2) {
      this.probes++;
      const len = f[i + 1]!;
      if (len < npages) continue;
      const first = f[i]!;
      if (len === npages) f.splice(i, 2);
      else {
        f[i] = first + npages;
        f[i + 1] = len - npages;
      }
      this.owner.fill(owner, first, first + npages);
      let runs = this.held.get(owner);
      if (runs === undefined) this.held.set(owner, (runs = []));
      runs.push(first, npages);
      return first;
    }
    return -1;
  }

  /** Frees every page of `owner`, wiping contents so nothing leaks to the next holder. */
  releaseAll(owner: number): number {
    const runs = this.held.get(owner);
    if (runs === undefined) return 0;
    this.held.delete(owner);
    let n = 0;
    for (let r = 0; r < runs.length; r += 2) {
      const first = runs[r]!;
      const len = runs[r + 1]!;
      this.owner.fill(OWNER_FREE, first, first + len);
      this.content.fill(0, first, first + len);
      if (this.wordPages.size > 0)
        for (let p = first; p < first + len; p++) this.wordPages.delete(p);
      this.addFree(first, len);
      n += len;
    }
    return n;
  }

  /** Puts [first, first + len) back in the free list, merged with its neighbours. */
  private addFree(first: number, len: number): void {
    const f = this.free;
    let lo = 0;
    let hi = f.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (f[mid * 2]! < first) lo = mid + 1;
      else hi = mid;
    }
    const i = lo * 2;
    const joinsPrev = i > 0 && f[i - 2]! + f[i - 1]! === first;
    const joinsNext = i < f.length && first + len === f[i];
    if (joinsPrev && joinsNext) {
      f[i - 1] = f[i - 1]! + len + f[i + 1]!;
      f.splice(i, 2);
    } else if (joinsPrev) f[i - 1] = f[i - 1]! + len;
    else if (joinsNext) {
      f[i] = first;
      f[i + 1] = f[i + 1]! + len;
    } else f.splice(i, 0, first, len);
  }

  /** The 1024-word view of a page, created on first use. */
  words(page: number): Float64Array {
    let w = this.wordPages.get(page);
    if (w === undefined) {
      w = new Float64Array(WORDS_PER_PAGE);
      this.wordPages.set(page, w);
    }
    return w;
  }

  /** The word view if the page was ever written as words, else undefined (reads as zeros). */
  peekWords(page: number): Float64Array | undefined {
    return this.wordPages.get(page);
  }
}
