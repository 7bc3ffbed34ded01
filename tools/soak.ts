/**
 * `bun run soak [--events N] [--epoch-ms N] [--seed N]`: at least N kernel events (default 10^8)
 * of DMA traffic with random guest deaths, broker restarts and LDC loss, invariants checked every
 * 20 simulated us; each epoch ends with all DVMA free and no TTE left. Prints a summary with the
 * memory sampled after every epoch.
 */
import { heapStats } from "bun:jsc";
import { parseArgs } from "node:util";
import { soak } from "../core/harness/explore/soak.ts";
import { explorePolicies } from "./explore-policies.ts";

const usage = (msg: string): never => {
  console.error(`soak: ${msg}`);
  process.exit(2);
};
let values: Record<string, string | undefined> = {};
try {
  values = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      events: { type: "string" },
      "epoch-ms": { type: "string" },
      seed: { type: "string" },
    },
  }).values;
} catch (e) {
  usage(e instanceof Error ? e.message : String(e));
}
function int(name: string, def: number, min: number): number {
  const raw = values[name];
  if (raw === undefined) return def;
  if (!/^\d+$|^\d+e\d+$/.test(raw))
    usage(`--${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min)
    usage(`--${name} must be an integer >= ${min}, got ${raw}`);
  return n;
}
const events = int("events", 1e8, 1);
const epochMs = int("epoch-ms", 50, 1);
const seed = int("seed", 1, 0);

const rss: number[] = [];
const heap: number[] = [];
const objects: number[] = [];
let done = 0;
const sample = () => {
  Bun.gc(true);
  const m = process.memoryUsage(); // host memory, sampled only for the summary
  rss.push(m.rss);
  heap.push(m.heapUsed);
  objects.push(heapStats().objectCount);
};
sample();
const t0 = performance.now(); // host clock: wall time of the soak, printed only
let stopped = false;
process.on("SIGTERM", () => (stopped = true));
process.on("SIGINT", () => (stopped = true));
const s = await soak({
  stop: () => stopped,
  events,
  epochNs: epochMs * 1_000_000,
  seed,
  policies: explorePolicies,
  checkEveryNs: 20_000,
  onEpoch: (e) => {
    sample();
    done += e.events;
    process.stderr.write(
      `boot ${e.epoch}: ${done} events so far, ${objects.at(-1)} live objects\n`,
    );
  },
});
const seconds = (performance.now() - t0) / 1000; // host clock
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const n = rss.length;
// Medians over the first and last tenth, of at least 3 boots each: one boot's count is noise.
const q = Math.max(3, Math.floor(n / 10));
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const tenths = (xs: number[]) => [median(xs.slice(1, 1 + q)), median(xs.slice(n - q))] as const;
const [early, late] = tenths(rss);
const [heapEarly, heapLate] = tenths(heap);
const [objEarly, objLate] = tenths(objects);
// A leak is what the program keeps: live objects after a full collection. The heap's bytes also
// count compiled code, and RSS what the allocator has not returned: both printed, not judged.
const growth = (objLate - objEarly) / objEarly;
if (stopped) console.log(`soak: stopped by a signal before its target of ${events} events`);
console.log(`soak: seed ${seed}, ${s.epochs} boots of ${epochMs} ms simulated, 4 guests x 4 lanes`);
console.log(
  `  kernel events        ${s.events} (${(s.events / seconds / 1e6).toFixed(2)} M/s, ${seconds.toFixed(0)} s)`,
);
console.log(`  mappings             ${s.maps}`);
console.log(
  `  faults               ${s.deaths} guest deaths, ${s.restarts} broker restarts, ${s.lost} LDC packets lost`,
);
console.log(`  invariant checks     ${s.checks} (every 20 us simulated) + end-of-boot checks`);
console.log(
  `  stranded grants      ${s.strandedPages} pages in ${s.strandedBoots} boots${s.strandedBoots > 0 ? ` (first: ${s.firstStranded}; a grant whose reply never arrived, reclaimed when its guest exits)` : ""}`,
);
console.log(
  `  end of every boot    ${s.violations.length === 0 ? "all DVMA free, no TTE left, ledger = table" : "VIOLATION"}`,
);
console.log(
  `  RSS (MiB)            start ${mib(rss[0]!)}, first tenth ${mib(early)}, last tenth ${mib(late)}, max ${mib(Math.max(...rss))} (${n} samples)`,
);
console.log(
  `  JS heap (MiB)        first tenth ${mib(heapEarly)}, last tenth ${mib(heapLate)} (after a full GC)`,
);
console.log(`  live JS objects      first tenth ${objEarly}, last tenth ${objLate}`);
const flat = n < 3 || growth < 0.1;
console.log(
  `  memory               ${flat ? "flat" : "GROWING"} (live objects ${(growth * 100).toFixed(1)}% from first to last tenth; RSS ${(((late - early) / early) * 100).toFixed(1)}%)`,
);
for (const v of s.violations) console.log(`  ${v}`);
process.exit(s.violations.length === 0 && flat && !stopped ? 0 : 1);
