// Mutation testing (`bun run mutate [area]`): StrykerJS with its command runner, one area at a
// time, each running only the `bun test` subsets that cover it. Not in CI (too slow).
// hv and iommu run their focused unit tests only (each file well under a second); the property
// tests (seconds each) stay out of the per-mutant run.
const hvUnit = [
  "calls",
  "abi",
  "lifecycle",
  "invariants",
  "ldc-channel",
  "ldc-memory",
  "accounting",
  "hypervisor",
  "remap",
  "strict-decoding",
  "ldc",
  "ldc-fate",
].map((f) => `test/core/model/hv/${f}.test.ts`);
const areas = {
  iommu: {
    mutate: ["core/model/iommu/**/*.ts"],
    tests: "test/core/model/iommu",
  },
  hv: {
    mutate: ["core/model/hv/**/*.ts"],
    tests: hvUnit.join(" "),
  },
  domains: {
    mutate: ["core/model/domains/**/*.ts", "!core/model/domains/checked-*.ts"],
    tests: "test/core/model/domains test/core/model/hv test/core/harness/explore",
  },
  "checked-policy": {
    mutate: ["core/model/domains/checked-*.ts"],
    tests:
      "test/core/harness/plugin test/core/model/domains/checked-policy.test.ts test/core/model/domains/stats-optional.test.ts test/core/input test/conformance",
  },
};
const area = process.env.MUTATE_AREA ?? "iommu";
const a = areas[area];
if (a === undefined)
  throw new Error(`unknown MUTATE_AREA "${area}" (${Object.keys(areas).join(", ")})`);

// MUTATE_FILES (comma-separated globs) narrows an area to some of its files, MUTATE_TESTS (space-
// separated paths) the tests run per mutant, MUTATE_PART names the report of such a narrowed run.
const files = process.env.MUTATE_FILES?.split(",") ?? a.mutate;
const tests = process.env.MUTATE_TESTS ?? a.tests;
const report = process.env.MUTATE_PART ? `${area}-${process.env.MUTATE_PART}` : area;

export default {
  testRunner: "command",
  // --bail: a killed mutant stops at its first failing test.
  commandRunner: { command: `bun test --bail --timeout 120000 ${tests}` },
  mutate: files,
  coverageAnalysis: "off",
  // No tsconfig rewrite: it needs the TypeScript JS API, which TypeScript 7 does not ship; Bun
  // runs the sources as they are.
  tsconfigFile: "no-tsconfig-rewrite.json",
  concurrency: 1,
  // MUTATE_TIMEOUT_MS raises the limit on a loaded machine, where a slow test run is not a hang.
  timeoutMS: Number(process.env.MUTATE_TIMEOUT_MS ?? 10000),
  reporters: ["clear-text", "progress-append-only", "json"],
  jsonReporter: { fileName: `out/mutation/${report}.json` },
  tempDirName: `.stryker-tmp/${report}`,
  ignorePatterns: ["out", ".stryker-tmp", "*.trace.json"],
  cleanTempDir: true,
};
