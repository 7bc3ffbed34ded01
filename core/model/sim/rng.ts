/** Seeded randomness only: xoshiro128** state, seeded through splitmix32. */

const TWO_32 = 2 ** 32;
const TWO_53 = 2 ** 53;

/** One splitmix32 step: a bijective 32-bit mixer. */
function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a (32-bit) over the UTF-8 bytes of `s`. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal = Number.NaN; // second Box-Muller variate, used on the next call

  /** `stream` (e.g. an FNV-1a name hash) selects an independent sequence for the same seed. */
  constructor(seed: number, stream = 0) {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`Rng seed must be a safe integer, got ${seed}`);
    }
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_32) >>> 0;
    const st = stream >>> 0;
    // Every state word depends on all of (seed, stream), so nearby seeds/streams decorrelate.
    const word = (i: number) =>
      splitmix32(splitmix32(splitmix32(lo ^ Math.imul(i, 0x6a09e667)) ^ hi) ^ st);
    this.s0 = word(1) | 0;
    this.s1 = word(2) | 0;
    this.s2 = word(3) | 0;
    this.s3 = word(4) | 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // all-zero is a fixed point
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b) / TWO_53;
  }

  /** Uniform integer in [lo, hiExclusive), unbiased by rejection; exact for spans up to 2^53. */
  int(lo: number, hiExclusive: number): number {
    const span = hiExclusive - lo;
    if (!(Number.isSafeInteger(lo) && Number.isSafeInteger(hiExclusive) && span > 0)) {
      throw new RangeError(`Rng.int needs safe integers lo < hi, got [${lo}, ${hiExclusive})`);
    }
    if (span <= TWO_32) {
      // Reject the top partial block so every residue is equally likely.
      const limit = TWO_32 - (TWO_32 % span);
      for (;;) {
        const x = this.nextU32();
        if (x < limit) return lo + (x % span);
      }
    }
    if (span > TWO_53) throw new RangeError(`Rng.int span ${span} exceeds 2^53`);
    const limit = TWO_53 - (TWO_53 % span);
    for (;;) {
      const x = (this.nextU32() >>> 11) * TWO_32 + this.nextU32(); // 53 bits
      if (x < limit) return lo + (x % span);
    }
  }

  uniform(a: number, b: number): number {
    return a + (b - a) * this.float();
  }

  exponential(mean: number): number {
    return -mean * Math.log(1 - this.float()); // 1 - float() is in (0, 1]
  }

  /** Gaussian via Box-Muller; the paired variate is kept for the next call. */
  normal(mean: number, sd: number): number {
    let z = this.spareNormal;
    if (Number.isNaN(z)) {
      const u = 1 - this.float();
      const v = this.float();
      const r = Math.sqrt(-2 * Math.log(u));
      z = r * Math.cos(2 * Math.PI * v);
      this.spareNormal = r * Math.sin(2 * Math.PI * v);
    } else {
      this.spareNormal = Number.NaN;
    }
    return mean + sd * z;
  }

  lognormal(mu: number, sigma: number): number {
    return Math.exp(this.normal(mu, sigma));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError("Rng.pick from an empty array");
    return xs[this.int(0, xs.length)];
  }
}

/** Named, independent streams: stream(name) depends only on (seed, name), not on call order. */
export class RngStreams {
  private readonly seed: number;
  private readonly streams = new Map<string, Rng>();

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`RngStreams seed must be a safe integer, got ${seed}`);
    }
    this.seed = seed;
  }

  /** The stream for `name`; the same name returns the same (shared, stateful) Rng. */
  stream(name: string): Rng {
    let r = this.streams.get(name);
    if (r === undefined) {
      r = new Rng(this.seed, fnv1a32(name));
      this.streams.set(name, r);
    }
    return r;
  }
}
