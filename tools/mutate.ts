/**
 * `bun run mutate [area...]`: StrykerJS over core/iommu, core/hv, core/domains and the checked-
 * policy wrapper, one area after another (each at concurrency 1: mutation runs are long and the
 * machine is shared). Reports land in out/mutation/<area>.json; the score of each is printed.
 */
import { readFileSync } from "node:fs";

const ALL = ["iommu", "hv", "domains", "checked-policy"];
const areas = process.argv.slice(2);
for (const a of areas) {
  if (!ALL.includes(a)) {
    console.error(`mutate: unknown area "${a}" (areas: ${ALL.join(", ")})`);
    process.exit(2);
  }
}

let failed = false;
for (const area of areas.length > 0 ? areas : ALL) {
  const run = Bun.spawnSync(["node_modules/.bin/stryker", "run", "stryker.config.mjs"], {
    env: { ...process.env, MUTATE_AREA: area },
    stdout: "inherit",
    stderr: "inherit",
  });
  if (run.exitCode !== 0) {
    failed = true;
    continue;
  }
  const name = process.env.MUTATE_PART ? `${area}-${process.env.MUTATE_PART}` : area;
  const report = JSON.parse(readFileSync(`out/mutation/${name}.json`, "utf8")) as {
    files: Record<string, { mutants: { status: string }[] }>;
  };
  const count: Record<string, number> = {};
  for (const f of Object.values(report.files))
    for (const m of f.mutants) count[m.status] = (count[m.status] ?? 0) + 1;
  const killed = (count.Killed ?? 0) + (count.Timeout ?? 0);
  const valid = killed + (count.Survived ?? 0) + (count.NoCoverage ?? 0);
  const score = valid === 0 ? 0 : (100 * killed) / valid;
  console.log(`mutation ${name}: ${score.toFixed(2)}% (${JSON.stringify(count)})`);
}
process.exit(failed ? 1 : 0);
