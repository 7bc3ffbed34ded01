/**
 * `bun run mutate [area...]`: StrykerJS over core/iommu, core/hv, core/domains and the checked-
 * policy wrapper, one area after another (each at concurrency 1: mutation runs are long and the
 * machine is shared). Reports land in out/mutation/<area>.json; the score of each is printed, as
 * Stryker counts it (a timeout is a detection) and with every timeout counted as a survivor.
 * `--summary` prints the scores of the reports already there without running Stryker.
 * MUTATE_TIMEOUT_MS (ms, default 10000) is added to each mutant's time limit (see stryker.config.mjs).
 */
import { existsSync, readFileSync } from "node:fs";

const ALL = ["iommu", "hv", "domains", "checked-policy"];
const summaryOnly = process.argv.includes("--summary");
const areas = process.argv.slice(2).filter((a) => a !== "--summary");
for (const a of areas) {
  if (!ALL.includes(a)) {
    console.error(`mutate: unknown area "${a}" (areas: ${ALL.join(", ")})`);
    process.exit(2);
  }
}

const limit = process.env.MUTATE_TIMEOUT_MS;
if (limit !== undefined && !/^[1-9][0-9]*$/.test(limit)) {
  console.error(`mutate: MUTATE_TIMEOUT_MS must be a positive integer of ms, got "${limit}"`);
  process.exit(2);
}

let failed = false;
for (const area of areas.length > 0 ? areas : ALL) {
  if (!summaryOnly) {
    const run = Bun.spawnSync(["node_modules/.bin/stryker", "run", "stryker.config.mjs"], {
      env: { ...process.env, MUTATE_AREA: area },
      stdout: "inherit",
      stderr: "inherit",
    });
    if (run.exitCode !== 0) {
      failed = true;
      continue;
    }
  }
  const name = process.env.MUTATE_PART ? `${area}-${process.env.MUTATE_PART}` : area;
  const file = `out/mutation/${name}.json`;
  if (!existsSync(file)) {
    console.error(`mutate: no report ${file} (run \`bun run mutate ${area}\` first)`);
    process.exit(2);
  }
  const report = JSON.parse(readFileSync(file, "utf8")) as {
    files: Record<string, { mutants: { status: string }[] }>;
  };
  const count: Record<string, number> = {};
  for (const f of Object.values(report.files))
    for (const m of f.mutants) count[m.status] = (count[m.status] ?? 0) + 1;
  const killed = (count.Killed ?? 0) + (count.Timeout ?? 0);
  const valid = killed + (count.Survived ?? 0) + (count.NoCoverage ?? 0);
  const score = valid === 0 ? 0 : (100 * killed) / valid;
  const strict = valid === 0 ? 0 : (100 * (count.Killed ?? 0)) / valid;
  console.log(
    `mutation ${name}: ${score.toFixed(2)}% (${JSON.stringify(count)}); timeouts as survivors: ${strict.toFixed(2)}%`,
  );
}
process.exit(failed ? 1 : 0);
