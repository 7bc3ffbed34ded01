/**
 * `bun run bench [name...] [--quick]`: runs test/bench/<name>.bench.ts (all of them, sorted, by
 * default) and prints ONE table of every figure: target, median [min–max], pass/fail. Each file
 * exports a default `async (opts: { quick: boolean }) => void` that adds rows through ./harness.ts.
 * `--quick` or BENCH_QUICK=1 shrinks sizes for a CI smoke run. A missed target is marked, not
 * fatal; a benchmark that throws makes the script exit 1; an unknown name or flag exits 2 first.
 */
import { join } from "node:path";
import { formatTable, tableRows } from "./harness.ts";

type Bench = (opts: { quick: boolean }) => Promise<void> | void;

const dir = import.meta.dir;
const known = [...new Bun.Glob("*.bench.ts").scanSync({ cwd: dir })]
  .map((f) => f.slice(0, -".bench.ts".length))
  .sort();

const argv = process.argv.slice(2);
const flags = argv.filter((a) => a.startsWith("-"));
const names = argv.filter((a) => !a.startsWith("-"));
const badFlag = flags.find((f) => f !== "--quick");
const badName = names.find((n) => !known.includes(n));
if (badFlag !== undefined || badName !== undefined) {
  console.error(
    badFlag !== undefined
      ? `bench: unknown flag ${badFlag} (only --quick)`
      : `bench: unknown benchmark "${badName}" (known: ${known.join(", ")})`,
  );
  process.exit(2);
}
const quick = flags.includes("--quick") || process.env.BENCH_QUICK === "1";
const chosen = names.length === 0 ? known : known.filter((n) => names.includes(n));

console.error(`bench: ${chosen.join(", ")}${quick ? " (quick)" : ""}`);
let failed = 0;
for (const name of chosen) {
  const t0 = Bun.nanoseconds(); // host clock: a benchmark
  try {
    const mod = (await import(join(dir, `${name}.bench.ts`))) as { default?: Bench };
    if (typeof mod.default !== "function") throw new Error("no default export function");
    await mod.default({ quick });
  } catch (err) {
    failed++;
    console.error(
      `${name}: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
  }
  console.error(`(${name}: ${((Bun.nanoseconds() - t0) / 1e9).toFixed(1)} s)`); // host clock
}
console.log(`Bun ${Bun.version}, ${navigator.hardwareConcurrency} CPUs${quick ? ", quick" : ""}`);
process.stdout.write(formatTable(tableRows()));
process.exit(failed > 0 ? 1 : 0);
