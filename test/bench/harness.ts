/** Tiny shared benchmark helpers: time a function, take the median, print aligned rows. */

export interface MeasureOptions {
  /** Timed runs; the median is returned. Default 3. */
  repeat?: number;
  /** Untimed runs first, to let the JIT settle. Default 0. */
  warmup?: number;
}

/** A lower bound (a number or { min }) and/or an upper bound ({ max }) the value should meet. */
export type Target = number | { min?: number; max?: number };

const LABEL_WIDTH = 46;
const VALUE_WIDTH = 10;
const UNIT_WIDTH = 10;
const TARGET_WIDTH = 12;

function nowSeconds(): number {
  return Bun.nanoseconds() / 1e9;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError("median of no samples");
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Runs `fn` `repeat` times (after `warmup` untimed runs) and returns the median in seconds. */
export function measure(name: string, fn: () => unknown, opts: MeasureOptions = {}): number {
  const repeat = opts.repeat ?? 3;
  const warmup = opts.warmup ?? 0;
  if (!(Number.isInteger(repeat) && repeat >= 1))
    throw new RangeError(`${name}: repeat must be >= 1`);
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = nowSeconds();
    fn();
    samples.push(nowSeconds() - t0);
  }
  if (process.env.BENCH_VERBOSE) {
    console.error(`  ${name}: ${samples.map((s) => (s * 1e3).toFixed(1)).join(", ")} ms`);
  }
  return median(samples);
}

/** Compact number: 12.3M, 4.56k, 7.89. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(2) + "G";
  if (a >= 1e6) return (v / 1e6).toFixed(2) + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(2) + "k";
  return v.toFixed(2);
}

function meets(value: number, target: Target): boolean {
  if (typeof target === "number") return value >= target;
  return (
    (target.min === undefined || value >= target.min) &&
    (target.max === undefined || value <= target.max)
  );
}

function describeTarget(target: Target): string {
  if (typeof target === "number") return `>= ${fmt(target)}`;
  const parts: string[] = [];
  if (target.min !== undefined) parts.push(`>= ${fmt(target.min)}`);
  if (target.max !== undefined) parts.push(`<= ${fmt(target.max)}`);
  return parts.join(" ");
}

/** Prints one aligned result row; a missed target is marked, never thrown. Returns whether it met it. */
export function row(label: string, value: number, unit: string, target?: Target): boolean {
  let line =
    label.padEnd(LABEL_WIDTH) + fmt(value).padStart(VALUE_WIDTH) + " " + unit.padEnd(UNIT_WIDTH);
  let ok = true;
  if (target !== undefined) {
    ok = meets(value, target);
    line += describeTarget(target).padEnd(TARGET_WIDTH) + (ok ? "  PASS" : "  below target");
  }
  console.log(line.trimEnd());
  return ok;
}

/** Prints a row that carries text instead of a number (e.g. a peer that was skipped). */
export function note(label: string, text: string): void {
  console.log(label.padEnd(LABEL_WIDTH) + " " + text);
}

/** Prints a section heading. */
export function header(title: string): void {
  console.log(`\n== ${title} ==`);
}
