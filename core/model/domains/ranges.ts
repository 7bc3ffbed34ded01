/** A set of disjoint page ranges, kept sorted by base. Small and exact: ledgers, leases. */
export interface PageRange {
  base: number;
  npages: number;
}

export class RangeSet {
  private readonly items: PageRange[] = [];

  get ranges(): readonly PageRange[] {
    return this.items;
  }

  get pages(): number {
    let n = 0;
    for (const r of this.items) n += r.npages;
    return n;
  }

  /** Index of the range containing `page`, or -1. */
  find(page: number): number {
    let lo = 0;
    let hi = this.items.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.items[mid]!;
      if (page < r.base) hi = mid - 1;
      else if (page >= r.base + r.npages) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** True if every page of [base, base + npages) is in the set. */
  covers(base: number, npages: number): boolean {
    const i = this.find(base);
    return i >= 0 && base + npages <= this.items[i]!.base + this.items[i]!.npages;
  }

  /** True if any page of [base, base + npages) is in the set. */
  overlaps(base: number, npages: number): boolean {
    for (const r of this.items) if (r.base < base + npages && base < r.base + r.npages) return true;
    return false;
  }

  /** Adds a range that must not overlap the set (merging is left undone so grants stay distinct). */
  add(base: number, npages: number): void {
    if (this.overlaps(base, npages))
      throw new RangeError(`range ${base}+${npages} overlaps the set`);
    let i = 0;
    while (i < this.items.length && this.items[i]!.base < base) i++;
    this.items.splice(i, 0, { base, npages });
  }

  /** Removes [base, base + npages), which must lie inside one range; splits it if needed. */
  remove(base: number, npages: number): void {
    const i = this.find(base);
    if (i < 0 || !this.covers(base, npages))
      throw new RangeError(`range ${base}+${npages} is not in the set`);
    const r = this.items[i]!;
    const pieces: PageRange[] = [];
    if (base > r.base) pieces.push({ base: r.base, npages: base - r.base });
    const end = base + npages;
    if (end < r.base + r.npages) pieces.push({ base: end, npages: r.base + r.npages - end });
    this.items.splice(i, 1, ...pieces);
  }

  clear(): void {
    this.items.length = 0;
  }
}
