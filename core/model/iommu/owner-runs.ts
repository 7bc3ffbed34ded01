/**
 * Run-length encoding of a DVMA owner table (`Iommu.entryOwner`): [owner, length] pairs in
 * window order, owner -1 = free. Reports and the live state show windows this way.
 */
export function runLengths(owners: Int16Array): [owner: number, length: number][] {
  const runs: [number, number][] = [];
  let start = 0;
  for (let i = 1; i <= owners.length; i++) {
    if (i === owners.length || owners[i] !== owners[start]) {
      runs.push([owners[start]!, i - start]);
      start = i;
    }
  }
  return runs;
}
