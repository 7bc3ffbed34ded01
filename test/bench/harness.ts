/**
 * Shared benchmark helpers. Every bench adds rows to one table (figure, target, median [min–max],
 * pass/fail) that run.ts prints at the end; progress goes to stderr while the benches run.
 */

export interface MeasureOptions {
  /** Timed runs. Default 3. */
  repeat?: number;
  /** Untimed runs first, to let the JIT settle. Default 0. */
  warmup?: number;
}

/** A lower bound (a number or { min }) and/or an upper bound ({ max }) the value should meet. */
export type Target = number | { min?: number; max?: number };

/** One line of the table: a figure with its samples, or a group title / a text (no samples). */
export interface Row {
  figure: string;
  samples: readonly number[];
  unit: string;
  target?: Target;
  /** Shown in the value column instead of figures (a skipped peer, a setting). */
  text?: string;
  group?: boolean;
}

const rows: Row[] = [];

/** The rows added so far (run.ts prints them). */
export function tableRows(): readonly Row[] {
  return rows;
}

function nowSeconds(): number {
  return Bun.nanoseconds() / 1e9; // host clock: a benchmark
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError("median of no samples");
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Runs `fn` `repeat` times (after `warmup` untimed runs); returns each run's seconds. */
export function samples(name: string, fn: () => unknown, opts: MeasureOptions = {}): number[] {
  const repeat = opts.repeat ?? 3;
  const warmup = opts.warmup ?? 0;
  if (!(Number.isInteger(repeat) && repeat >= 1))
    throw new RangeError(`${name}: repeat must be >= 1`);
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = nowSeconds();
    fn();
    out.push(nowSeconds() - t0);
  }
  if (process.env.BENCH_VERBOSE) {
    console.error(`  ${name}: ${out.map((s) => (s * 1e3).toFixed(1)).join(", ")} ms`);
  }
  return out;
}

/** The median of `samples(...)`, seconds. */
export function measure(name: string, fn: () => unknown, opts: MeasureOptions = {}): number {
  return median(samples(name, fn, opts));
}

/** Compact number: 12.3M, 4.56k, 7.89, 0.0123 (three significant digits below 1). */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(2)}k`;
  if (a >= 1 || a === 0) return v.toFixed(2);
  return v.toPrecision(3);
}

export function meets(value: number, target: Target): boolean {
  if (typeof target === "number") return value >= target;
  return (
    (target.min === undefined || value >= target.min) &&
    (target.max === undefined || value <= target.max)
  );
}

export function describeTarget(target: Target): string {
  if (typeof target === "number") return `>= ${fmt(target)}`;
  const parts: string[] = [];
  if (target.min !== undefined) parts.push(`>= ${fmt(target.min)}`);
  if (target.max !== undefined) parts.push(`<= ${fmt(target.max)}`);
  return parts.join(" ");
}

/**
 * Adds a figure: one value or the samples of its repetitions (shown as median [min–max]). The
 * median is judged against the target; a miss is marked, never thrown. Returns whether it met it.
 */
export function row(
  label: string,
  value: number | readonly number[],
  unit: string,
  target?: Target,
): boolean {
  const xs = typeof value === "number" ? [value] : value;
  if (xs.length === 0) throw new RangeError(`${label}: no samples`);
  rows.push({ figure: label, samples: xs, unit, ...(target !== undefined ? { target } : {}) });
  console.error(`  ${label}: ${fmt(median(xs))} ${unit}`);
  return target === undefined || meets(median(xs), target);
}

/** Adds a row that carries text instead of a figure (a skipped peer, what a run did). */
export function note(label: string, text: string): void {
  rows.push({ figure: label, samples: [], unit: "", text });
  console.error(`  ${label}: ${text}`);
}

/** Starts a group of rows under a title. */
export function header(title: string): void {
  rows.push({ figure: title, samples: [], unit: "", group: true });
  console.error(`== ${title}`);
}

/** median [min–max] unit, or the value alone for one sample. */
function valueCell(r: Row): string {
  if (r.text !== undefined) return r.text;
  const m = fmt(median(r.samples));
  if (r.samples.length === 1) return `${m} ${r.unit}`.trimEnd();
  const lo = fmt(Math.min(...r.samples));
  const hi = fmt(Math.max(...r.samples));
  return `${m} [${lo}–${hi}] ${r.unit}`.trimEnd();
}

/** The one table: figure, target, median [min–max], pass/fail; columns padded to their widest cell. */
export function formatTable(list: readonly Row[]): string {
  const cells = list.map((r) =>
    r.group
      ? null
      : [
          `  ${r.figure}`,
          r.target === undefined ? "" : describeTarget(r.target),
          valueCell(r),
          r.target === undefined ? "" : meets(median(r.samples), r.target) ? "pass" : "FAIL",
        ],
  );
  const head = ["figure", "target", "median [min–max]", "result"];
  const width = head.map((h, i) =>
    Math.max(h.length, ...cells.map((c) => (c === null ? 0 : c[i]!.length))),
  );
  const line = (c: readonly string[]) =>
    c
      .map((x, i) => x.padEnd(width[i]!))
      .join("  ")
      .trimEnd();
  const out = [line(head), line(width.map((w) => "-".repeat(w)))];
  list.forEach((r, i) => {
    out.push(r.group ? r.figure : line(cells[i]!));
  });
  return `${out.join("\n")}\n`;
}
