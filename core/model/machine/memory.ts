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
 */
export class PhysMemory {
  readonly pages: number;
  readonly owner: Int16Array;
  readonly content: Uint32Array;
  private readonly wordPages = new Map<number, Float64Array>();

  constructor(pages: number) {
    if (!Number.isInteger(pages) || pages <= 0 || pages > 0x7fffffff) {
      throw new RangeError(`physical memory must be 1..2^31-1 pages, got ${pages}`);
    }
    this.pages = pages;
    this.owner = new Int16Array(pages).fill(OWNER_FREE);
    this.content = new Uint32Array(pages);
  }

  /** Gives `npages` contiguous free pages to `owner` (first fit); returns the first page or -1. */
  allocate(owner: number, npages: number): number {
    const o = this.owner;
    let run = 0;
    for (let p = 0; p < this.pages; p++) {
      run = o[p] === OWNER_FREE ? run + 1 : 0;
      if (run === npages) {
        const first = p - npages + 1;
        o.fill(owner, first, p + 1);
        return first;
      }
    }
    return -1;
  }

  /** Frees every page of `owner`, wiping contents so nothing leaks to the next holder. */
  releaseAll(owner: number): number {
    let n = 0;
    for (let p = 0; p < this.pages; p++) {
      if (this.owner[p] === owner) {
        this.owner[p] = OWNER_FREE;
        this.content[p] = 0;
        this.wordPages.delete(p);
        n++;
      }
    }
    return n;
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
