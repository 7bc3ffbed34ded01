/**
 * Runs every test/bench/*.bench.ts in sorted order. Each exports a default
 * `async (opts: { quick: boolean }) => void` that prints rows through ./harness.ts.
 * `--quick` or BENCH_QUICK=1 shrinks sizes for a CI smoke run. A missed target is printed, not fatal;
 * a benchmark that throws makes the script exit 1. Optional filter: `bun run bench kernel`.
 */
import { join } from "node:path";

type Bench = (opts: { quick: boolean }) => Promise<void> | void;

const argv = process.argv.slice(2);
const quick = argv.includes("--quick") || process.env.BENCH_QUICK === "1";
const filters = argv.filter((a) => !a.startsWith("--"));

const dir = import.meta.dir;
const files = [...new Bun.Glob("*.bench.ts").scanSync({ cwd: dir })]
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

console.log(`bench: ${files.length} file(s)${quick ? " (quick)" : ""}, Bun ${Bun.version}`);
let failed = 0;
for (const file of files) {
  const t0 = Bun.nanoseconds();
  try {
    const mod = (await import(join(dir, file))) as { default?: Bench };
    if (typeof mod.default !== "function") throw new Error("no default export function");
    await mod.default({ quick });
  } catch (err) {
    failed++;
    console.error(
      `${file}: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
  }
  console.log(`(${file}: ${((Bun.nanoseconds() - t0) / 1e9).toFixed(1)} s)`);
}
process.exit(failed > 0 ? 1 : 0);
