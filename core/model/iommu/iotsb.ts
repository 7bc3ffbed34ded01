/** IO attribute bits of a TTE, as in sun4v's io_attributes. */
export const IO_ATTR_READ = 0x1;
export const IO_ATTR_WRITE = 0x2;
export const IO_ATTR_RELAXED_ORDER = 0x4;
export const IO_ATTR_MASK = 0x7;
/** Internal: the TTE is valid. Never accepted from a caller. */
export const TTE_VALID = 0x80;

/**
 * One IOTSB: the translation table the IOMMU walks, one TTE per 8 KiB DVMA page of the window.
 * A TTE is a physical page number plus attribute bits; only the hypervisor writes it.
 */
export class Iotsb {
  readonly entries: number;
  readonly pa: Int32Array;
  readonly attr: Uint8Array;
  private validCount = 0;

  constructor(entries: number) {
    this.entries = entries;
    this.pa = new Int32Array(entries);
    this.attr = new Uint8Array(entries);
  }

  isValid(i: number): boolean {
    return (this.attr[i]! & TTE_VALID) !== 0;
  }

  set(i: number, paPage: number, attrs: number): void {
    if ((this.attr[i]! & TTE_VALID) === 0) this.validCount++;
    this.pa[i] = paPage;
    this.attr[i] = (attrs & IO_ATTR_MASK) | TTE_VALID;
  }

  /** Invalidates entry i; returns true if it was valid. */
  clear(i: number): boolean {
    if ((this.attr[i]! & TTE_VALID) === 0) return false;
    this.attr[i] = 0;
    this.pa[i] = 0;
    this.validCount--;
    return true;
  }

  /** Number of valid TTEs (occupancy). */
  get valid(): number {
    return this.validCount;
  }
}
