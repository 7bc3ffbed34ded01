/**
 * A byte of state per window page, stored only where some page is not 0: the window is cut into
 * blocks of 1,024 pages, and a block's bytes exist while at least one of its pages is non-zero.
 * A guest's checked policy keeps its ledger here, so its memory follows the pages it holds
 * rather than the window (a 262,144-page window costs 256 block pointers, not 256 KiB).
 */
const BLOCK_SHIFT = 10;
const BLOCK = 1 << BLOCK_SHIFT;
const MASK = BLOCK - 1;

export class PageStates {
  private readonly blocks: (Uint8Array | undefined)[];
  /** Non-zero pages in each block; a block is dropped when its count reaches 0. */
  private readonly live: number[];

  constructor(readonly pages: number) {
    const n = Math.ceil(pages / BLOCK);
    this.blocks = new Array<Uint8Array | undefined>(n).fill(undefined);
    this.live = new Array<number>(n).fill(0);
  }

  get(page: number): number {
    return this.blocks[page >>> BLOCK_SHIFT]?.[page & MASK] ?? 0;
  }

  /** Sets pages [from, to) to `value`. */
  fill(value: number, from: number, to: number): void {
    for (let p = from; p < to; ) {
      const b = p >>> BLOCK_SHIFT;
      const end = Math.min(to, (b + 1) << BLOCK_SHIFT);
      let block = this.blocks[b];
      if (block === undefined) {
        if (value === 0) {
          p = end;
          continue;
        }
        block = this.blocks[b] = new Uint8Array(BLOCK);
      }
      let live = this.live[b]!;
      for (let i = p & MASK, e = i + (end - p); i < e; i++) {
        live += (value !== 0 ? 1 : 0) - (block[i] !== 0 ? 1 : 0);
        block[i] = value;
      }
      this.live[b] = live;
      if (live === 0) this.blocks[b] = undefined;
      p = end;
    }
  }

  /** The first page in [from, to) whose state is not `want`, or -1. */
  firstNot(want: number, from: number, to: number): number {
    for (let p = from; p < to; p++) if (this.get(p) !== want) return p;
    return -1;
  }

  /** Bytes of page state held now (the test of per-guest memory reads this). */
  get bytes(): number {
    let n = 0;
    for (const b of this.blocks) if (b !== undefined) n += b.byteLength;
    return n;
  }
}
