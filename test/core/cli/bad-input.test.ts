import { afterAll, describe, expect, test } from "bun:test";
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { writeAtomic } from "../../../core/cli/output.ts";
import { EXIT_PLUGIN_ERRORS } from "../../../core/harness/scenario/failures.ts";
import { cli } from "../../helpers/cli.ts";

/** Issue 13's bad-input findings, each: exit code, one line naming what and where, nothing left behind. */

const REPO = resolve(import.meta.dir, "../../..");
const CORE = resolve(REPO, "core/index.ts");
const dir = mkdtempSync(join(tmpdir(), "cli-bad-input-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One line on stderr, no stack trace. */
function oneLine(err: string): string {
  expect(err.endsWith("\n")).toBe(true);
  expect(err.trimEnd().split("\n")).toHaveLength(1);
  expect(err).not.toContain("    at ");
  return err;
}

describe("bad input stops before any work (exit 2, one line)", () => {
  const cases: [string[], string][] = [
    [["--seed", "1.5"], 'error: --seed "1.5": expected integer from 0 to 4294967295'],
    [["--set", "cost.hcallTrapNs=1.9"], "scenario /cost/hcallTrapNs: Expected integer (got 1.9;"],
    [["--set", "seed=true"], "scenario /seed: Expected integer (got true;"],
    [["--duration", "5"], 'error: --duration "5": expected a time > 0 with a unit'],
    [["--duration", "0ms"], 'error: --duration "0ms": expected a time > 0 with a unit'],
    [
      ["--set", "duration=5"],
      'scenario /duration: Not in the described form (got "5"; allowed: string — a time > 0 with a unit',
    ],
    [["check-policy", "first-fit", "--seed", "-3"], 'error: --seed "-3": expected integer'],
    [["--out", ""], 'error: --out "": expected a file path'],
    [["--json=yes"], "error: --json=yes: expected --json, --no-json, --json=true or --json=false"],
    [["--no-seed"], "error: --no-seed: only on/off flags can be negated"],
    [["--json", "--csv"], "error: --json and --csv: stdout takes one report; give one"],
    [["--seed", "1", "--seed", "2"], "error: flag --seed given twice"],
    [["--seed", "1", "--set", "seed=2"], "error: --seed and --set seed=…: give the seed once"],
    [
      ["--duration", "1ms", "--set", 'duration="2ms"'],
      "error: --duration and --set duration=…: give the duration once",
    ],
    [["--port", "80"], "error: --port only applies with --serve"],
    [["default", "extra"], 'error: unexpected argument "extra"'],
    [["help", "nope"], 'error: help: no command "nope"'],
    [
      ["--set", "machine.rootComplexes.0.iotlb.sets=48"],
      "scenario /machine/rootComplexes/0/iotlb/sets: must be a power of two (got 48)",
    ],
    [
      ["--set", "machine.rootComplexes.0.iotlb.ways=0"],
      "scenario /machine/rootComplexes/0/iotlb/ways:",
    ],
  ];
  for (const [argv, message] of cases) {
    test(argv.join(" "), async () => {
      const r = await cli(...argv);
      expect(r.code).toBe(2);
      expect(oneLine(r.err)).toContain(message);
      expect(r.out).toBe("");
    });
  }

  test("output paths are checked before the run: a directory, a path through a file; no report left behind", async () => {
    const html = join(dir, "x.html");
    const file = join(dir, "a-file");
    writeFileSync(file, "");
    for (const out of [dir, join(file, "sub/r.json")]) {
      const r = await cli("scale", "--report", html, "--out", out);
      expect(r.code).toBe(2);
      expect(oneLine(r.err)).toContain(`--out ${out}: `);
      expect(existsSync(html)).toBe(false);
    }
    const r = await cli("--trace", "/dev/null");
    expect(r.code).toBe(2);
    expect(oneLine(r.err)).toContain("--trace /dev/null: not a regular file");
  });

  test("a scenario or plugin file with a syntax error: file:line:column and the message", async () => {
    const scn = join(dir, "broken-scenario.ts");
    writeFileSync(scn, 'export default {\n  name: "x",\n  seed: ,\n};\n');
    const a = await cli(scn);
    expect(a.code).toBe(2);
    expect(oneLine(a.err)).toContain(`${scn}:3:9: Unexpected ,`);

    const plugin = join(dir, "broken-plugin.ts");
    writeFileSync(plugin, `import { definePlugin } from "${CORE}";\nconst x = (;\n`);
    const b = await cli("--plugin", plugin);
    expect(b.code).toBe(2);
    expect(oneLine(b.err)).toContain(`${plugin}:2:12: Unexpected ;`);
  });
});

describe("reports are written atomically", () => {
  test("a report goes in whole, through a temporary file that does not stay", async () => {
    const out = join(dir, "atomic.json");
    const r = await cli(
      "scale",
      "--duration",
      "100us",
      "--set",
      "matrix={}",
      "--out",
      out,
      "--quiet",
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(await Bun.file(out).text()).scenario).toBe("scale");
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("the report replaces the old file whole (a rename): a reader of the old file sees it unchanged", () => {
    const target = join(dir, "replaced.json");
    writeFileSync(target, "old report");
    linkSync(target, join(dir, "reader.json")); // the old file, as a reader that opened it holds it
    writeAtomic(target, "new report");
    expect(readFileSync(target, "utf8")).toBe("new report");
    expect(readFileSync(join(dir, "reader.json"), "utf8")).toBe("old report");
  });

  test("a write that fails leaves neither the target nor the temporary file", () => {
    const sub = join(dir, "fail");
    mkdirSync(join(sub, "target.json"), { recursive: true }); // a directory: the rename fails
    expect(() => writeAtomic(join(sub, "target.json"), "{}")).toThrow();
    expect(readdirSync(sub)).toEqual(["target.json"]);
  });
});

describe("failures say what failed", () => {
  test("a serial run that fails names the run, as the parallel runner does", async () => {
    const target = resolve(REPO, "test/fixtures/scenarios/failing.ts");
    const plugin = resolve(REPO, "test/fixtures/scenarios/fail-workload.ts");
    const r = await cli(target, "--plugin", plugin, "--workers", "1");
    // The workload plugin threw: it is named, with no stack trace, and the plugin-error status.
    expect(r.code).toBe(EXIT_PLUGIN_ERRORS);
    expect(r.err).toBe(
      "run failed: run 2/3 (path direct, workloads.0.plugin.1.failAtUs=100): [plugin fixture-fail] start: fixture failure at 100 us\n",
    );
  });

  test("check-policy stops a policy call that never returns", async () => {
    const file = join(dir, "loops.ts");
    writeFileSync(
      file,
      `import { definePlugin } from "${CORE}";
export default definePlugin({
  name: "loops", kind: "policy.local", version: "1.0.0",
  setup: () => () => ({
    addRange() {}, removeRange() {}, free() {},
    alloc() { for (;;) {} },
    stats: () => ({ allocatedPages: 0, freePages: 0, allocations: 0, failures: 0 }),
  }),
});
`,
    );
    const t0 = performance.now(); // host clock: the watchdog is about wall time
    const r = await cli("check-policy", file, "--timeout", "300ms");
    expect(performance.now() - t0).toBeLessThan(30_000);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /^loops: FAIL {2}alloc \(call \d+\) did not return within 300ms; stopped\n$/,
    );
  });
});
