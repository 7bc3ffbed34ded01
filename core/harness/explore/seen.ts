/**
 * States seen: per 64-bit hash of the state key, the budget vectors it was seen with. A state is
 * covered when its key was seen with at least as much of every budget (ExploreWorld.budgets).
 */
export class SeenStates {
  private readonly byKey = new Map<bigint, number[][]>();
  size = 0;

  /** True when covered; otherwise records the state (dropping vectors it covers) and is false. */
  visit(h: bigint, v: readonly number[]): boolean {
    const list = this.byKey.get(h);
    if (list === undefined) {
      this.byKey.set(h, [v.slice()]);
      this.size++;
      return false;
    }
    for (const w of list) if (covers(w, v)) return true;
    const kept = list.filter((w) => !covers(v, w));
    this.size += 1 - (list.length - kept.length);
    kept.push(v.slice());
    this.byKey.set(h, kept);
    return false;
  }
}

function covers(w: readonly number[], v: readonly number[]): boolean {
  for (let i = 0; i < v.length; i++) if (w[i]! < v[i]!) return false;
  return true;
}
