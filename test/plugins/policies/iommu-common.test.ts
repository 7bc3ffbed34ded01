import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { MeterLog } from "../../../core/model/domains/policy-meter.ts";
import iommuCommon, { IommuCommonPolicy } from "../../../plugins/policies/iommu-common.ts";
import { CPUS, FREE, localCmd, lowestFit, policyHost, runLocal, USED } from "./policy-model.ts";

/** Not a multiple of 16, so the last pool takes a remainder. */
const W = 260;

/** The algorithm written plainly over a page array: pools, hints, hashing, hops, rescans. */
class Reference {
  readonly start: number[] = [];
  readonly end: number[] = [];
  readonly hint: number[];
  poolHops = 0;
  rescans = 0;

  constructor(
    readonly pools: number,
    readonly largePool: boolean,
    readonly hash: "hash32" | "mask",
  ) {
    const small = largePool ? W - Math.floor(W / 4) : W;
    const size = Math.floor(small / pools);
    for (let i = 0; i < pools; i++) {
      this.start.push(i * size);
      this.end.push(i === pools - 1 ? small : (i + 1) * size);
    }
    if (largePool) {
      this.start.push(small);
      this.end.push(W);
    }
    this.hint = [...this.start];
  }

  poolOf(cpu: number): number {
    if (this.hash === "mask" || this.pools === 1) return cpu & (this.pools - 1);
    const bits = Math.log2(this.pools);
    return Number((BigInt(cpu) * 0x61c88647n) & 0xffffffffn) >>> (32 - bits);
  }

  alloc(state: Uint8Array, npages: number, align: number, cpu: number): number {
    const large = this.largePool && npages > 15;
    let pool = large ? this.pools : this.poolOf(cpu);
    // Linux: the first pool twice (from the hint, then from its start), then up to `pools` moves;
    // the last move comes back to the first pool, which cannot fit either.
    const tries = large ? 1 : this.pools;
    for (let t = 0; t < tries; t++) {
      const s = this.start[pool];
      const e = this.end[pool];
      let inPool = 0;
      for (let p = s; p < e; p++) if (state[p] === FREE) inPool++;
      let from = this.hint[pool];
      if (from >= e || from < s) from = s;
      let page = inPool >= npages ? lowestFit(state, npages, align, from, e) : -1;
      if (page < 0 && t === 0) {
        this.rescans++;
        this.hint[pool] = s;
        page = inPool >= npages ? lowestFit(state, npages, align, s, e) : -1;
      }
      if (page >= 0) {
        this.hint[pool] = page + npages;
        if (t > 0) this.poolHops++;
        return page;
      }
      if (t + 1 < tries) {
        pool = (pool + 1) & (this.pools - 1);
        this.hint[pool] = this.start[pool];
      }
    }
    return -1;
  }

  largestRun(state: Uint8Array): number {
    let best = 0;
    for (let i = 0; i < this.start.length; i++) {
      let run = 0;
      for (let p = this.start[i]; p < this.end[i]; p++) {
        run = state[p] === FREE ? run + 1 : 0;
        best = Math.max(best, run);
      }
    }
    return best;
  }
}

describe("iommu-common", () => {
  test("property: matches the pool/hint/hash algorithm written plainly; exact accounting", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 4, 16),
        fc.boolean(),
        fc.constantFrom("hash32" as const, "mask" as const),
        fc.array(localCmd(W), { maxLength: 120, size: "max" }),
        (pools, largePool, poolHash, cmds) => {
          const policy = policyHost().use(iommuCommon, { pools, largePool, poolHash })({
            windowPages: W,
            meter: new MeterLog(),
            cpus: CPUS,
          });
          const ref = new Reference(pools, largePool, poolHash);
          let allocations = 0;
          let failures = 0;
          runLocal(policy, W, cmds, {
            alloc(m, c, got) {
              expect(got).toBe(ref.alloc(m.state, c.npages, c.align, c.cpu));
              if (got >= 0) allocations++;
              else failures++;
            },
            stats(m, s) {
              const free = m.count(FREE);
              const largest = ref.largestRun(m.state);
              expect(s).toMatchObject({
                allocatedPages: m.count(USED),
                freePages: free,
                allocations,
                failures,
                heldPages: W - m.count(0),
                pools,
                poolHops: ref.poolHops,
                rescans: ref.rescans,
                largestFreeRun: largest,
                fragmentation: free === 0 ? 0 : 1 - largest / free,
              });
            },
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  test("CPUs start in the pool hash_32 picks, as pci_sun4v", () => {
    const p = new IommuCommonPolicy(256, 4, new MeterLog(), {
      pools: 16,
      largePool: false,
      poolHash: "hash32",
      lazyFlush: false,
    });
    p.addRange(0, 256);
    // hash_32(cpu, 4) for cpus 0..3 is 0, 6, 12, 2; each pool is 16 pages.
    expect([0, 1, 2, 3].map((cpu) => p.alloc(1, 1, cpu))).toEqual([0, 96, 192, 32]);
    const m = new IommuCommonPolicy(256, 4, new MeterLog(), {
      pools: 16,
      largePool: false,
      poolHash: "mask",
      lazyFlush: false,
    });
    m.addRange(0, 256);
    expect([0, 1, 2, 3].map((cpu) => m.alloc(1, 1, cpu))).toEqual([0, 16, 32, 48]);
  });

  test("a full pool sends the CPU to the next pool, which is searched from its start", () => {
    const p = new IommuCommonPolicy(64, 1, new MeterLog(), {
      pools: 4,
      largePool: false,
      poolHash: "mask",
      lazyFlush: false,
    });
    p.addRange(0, 64);
    expect(p.alloc(16, 1, 0)).toBe(0);
    expect(p.alloc(4, 1, 0)).toBe(16); // pool 0 is full
    expect(p.alloc(17, 1, 0)).toBe(-1); // never across a pool boundary
    expect(p.stats()).toMatchObject({ poolHops: 1, failures: 1 });
  });

  test("the large pool serves only requests over 15 pages", () => {
    const p = new IommuCommonPolicy(128, 2, new MeterLog(), {
      pools: 2,
      largePool: true,
      poolHash: "hash32",
      lazyFlush: false,
    });
    p.addRange(0, 128);
    expect(p.alloc(16, 1, 0)).toBe(96);
    expect(p.alloc(15, 1, 0)).toBe(0);
    expect(p.alloc(32, 1, 1)).toBe(-1); // the large pool has 16 pages left
    expect(p.alloc(16, 1, 0)).toBe(112);
  });

  test("only held pages are handed out, whatever pool they fall in", () => {
    const p = new IommuCommonPolicy(1024, 8, new MeterLog(), {
      pools: 16,
      largePool: false,
      poolHash: "hash32",
      lazyFlush: false,
    });
    p.addRange(700, 3);
    expect([p.alloc(1, 1, 5), p.alloc(1, 1, 0), p.alloc(1, 1, 7), p.alloc(1, 1, 2)]).toEqual([
      700, 701, 702, -1,
    ]);
    p.free(701, 1, 3);
    p.removeRange(701, 1);
    expect(p.alloc(1, 1, 0)).toBe(-1);
    expect(p.stats()).toMatchObject({ heldPages: 2, allocatedPages: 2, freePages: 0 });
  });

  test("options: pools must be a power of two", () => {
    expect(() => policyHost().use(iommuCommon, { pools: 3 })).toThrow("/pools");
    const h = policyHost();
    h.use(iommuCommon);
    expect(h.getByName("iommu-common")?.options).toEqual({
      lazyFlush: false,
      pools: 16,
      largePool: false,
      poolHash: "hash32",
    });
  });

  test("a 32-bit-limited request whose pool reaches past the limit searches pool 0 from page 0 up to the limit", () => {
    const p = new IommuCommonPolicy(256, 4, new MeterLog(), {
      pools: 4,
      largePool: false,
      poolHash: "mask",
      lazyFlush: false,
    });
    p.addRange(0, 256);
    // CPU 3 starts in pool 3 ([192, 256)); its hint 192 lies above the limit 100.
    expect(p.alloc(1, 1, 3, 100)).toBe(0);
    // CPU 1's pool [64, 128) reaches past 100 but its hint 64 is under it: searched there first.
    expect(p.alloc(1, 1, 1, 100)).toBe(64);
    expect(p.alloc(40, 1, 1, 100)).toBe(1); // pool 1 below 100 has 35 pages: pass 1 goes to pool 0
  });

  test("lazy flush: an allocation that wraps below the hint, or follows a failed pass, counts one flush", () => {
    const p = new IommuCommonPolicy(64, 1, new MeterLog(), {
      pools: 1,
      largePool: false,
      poolHash: "mask",
      lazyFlush: true,
    });
    p.addRange(0, 64);
    expect(p.alloc(60, 1, 0)).toBe(0);
    p.free(0, 60, 0);
    expect(p.stats().flushes).toBe(0);
    // hint 60: 8 pages do not fit in [60, 64), pass 0 fails, NEED_FLUSH, pass 1 finds 0.
    expect(p.alloc(8, 1, 0)).toBe(0);
    expect(p.stats()).toMatchObject({ flushes: 1, rescans: 1 });
    const quiet = new IommuCommonPolicy(64, 1, new MeterLog(), {
      pools: 1,
      largePool: false,
      poolHash: "mask",
      lazyFlush: false,
    });
    quiet.addRange(0, 64);
    quiet.alloc(60, 1, 0);
    quiet.free(0, 60, 0);
    quiet.alloc(8, 1, 0);
    expect(quiet.stats().flushes).toBe(0);
  });

  test("meter: each call takes and releases pool locks in pairs and reports the bitmap words it scans", () => {
    const meter = new MeterLog();
    const p = new IommuCommonPolicy(1024, 2, meter, {
      pools: 2,
      largePool: false,
      poolHash: "mask",
      lazyFlush: false,
    });
    p.addRange(0, 1024);
    expect(meter.locks.map((l) => l.name)).toEqual(["pool[0].lock", "pool[1].lock"]);
    meter.clear();
    expect(p.alloc(1, 1, 1)).toBe(512);
    expect([...meter.ops.slice(0, meter.length)]).toEqual([1, 1, 0, 3, 0, 1, 2, 1, 0]);
    meter.clear();
    for (let i = 0; i < 511; i++) p.alloc(1, 1, 1);
    meter.clear();
    // Pool 1 full: its hint (1024) is past its end, so pass 0 scans the whole pool (8 words), pass 1
    // again (8), under lock 1; then pool 0, from its start.
    expect(p.alloc(1, 1, 1)).toBe(0);
    expect([...meter.ops.slice(0, meter.length)]).toEqual([
      1, 1, 0, 3, 0, 16, 2, 1, 0, 1, 0, 0, 3, 0, 1, 2, 0, 0,
    ]);
  });
});
