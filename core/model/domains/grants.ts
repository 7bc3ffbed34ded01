/**
 * The grants a guest holds from the broker, by number. A release names the grant it returns, and
 * the broker acts on it only while that grant is live and spans exactly the range the release
 * names. Without the number, a release served whose every reply was lost for longer than the
 * reply cache holds was resent and served again once the same range had been granted to the
 * guest anew, taking back the newer grant the guest still used (a range free in the ledger but
 * mapped by the guest: the next guest to get it shared it).
 *
 * Numbers start at 1 and are never reused for the guest (2^53 grants would take centuries).
 * Like the reply journal, the table is written before the grant's reply is sent and is kept
 * durably by the control domain, so it survives a broker crash.
 */
export class GrantTable {
  /** devhandle -> first page index -> [number, pages]. */
  private readonly byRange = new Map<number, Map<number, [number, number]>>();
  /** Live grant numbers. */
  private readonly numbers = new Set<number>();
  private next = 1;

  /** Records a grant of [index, index + npages) on `devhandle`; returns its number. */
  add(devhandle: number, index: number, npages: number): number {
    const n = this.next++;
    let at = this.byRange.get(devhandle);
    if (at === undefined) this.byRange.set(devhandle, (at = new Map()));
    at.set(index, [n, npages]);
    this.numbers.add(n);
    return n;
  }

  /** True while grant `n` is live (not released, not reclaimed). */
  live(n: number): boolean {
    return this.numbers.has(n);
  }

  /**
   * Removes grant `n` if it is live and spans exactly [index, index + npages) on `devhandle`;
   * false (nothing removed) otherwise.
   */
  take(n: number, devhandle: number, index: number, npages: number): boolean {
    const at = this.byRange.get(devhandle);
    const g = at?.get(index);
    if (g === undefined || g[0] !== n || g[1] !== npages) return false;
    at!.delete(index);
    this.numbers.delete(n);
    return true;
  }

  /** The live grants' ranges on `devhandle`, by first page index. */
  rangesOf(devhandle: number): { base: number; npages: number }[] {
    const at = this.byRange.get(devhandle);
    if (at === undefined) return [];
    return [...at].map(([base, g]) => ({ base, npages: g[1] })).sort((a, b) => a.base - b.base);
  }

  /** The guest died: every grant it held is reclaimed. */
  clear(): void {
    this.byRange.clear();
    this.numbers.clear();
  }
}
