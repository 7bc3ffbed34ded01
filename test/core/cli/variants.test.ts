import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { main } from "../../../core/cli/main.ts";
import {
  applySets,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
} from "../../../core/harness/scenario/load.ts";
import { runScenario } from "../../../core/harness/scenario/run-scenario.ts";
import { cli } from "../../helpers/cli.ts";

/**
 * What a new user tries next after each of issue 13's findings: the same mistake a little
 * differently. Each is bad input (exit 2, one line, before any work) or handled without a crash.
 */

const REPO = resolve(import.meta.dir, "../../..");
const CORE = resolve(REPO, "core/index.ts");
const dir = mkdtempSync(join(tmpdir(), "cli-variants-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One line on stderr, no stack trace, nothing on stdout, exit 2. */
function badInput(r: { code: number; out: string; err: string }): string {
  expect(r.code).toBe(2);
  expect(r.out).toBe("");
  expect(r.err.endsWith("\n")).toBe(true);
  expect(r.err.trimEnd().split("\n")).toHaveLength(1);
  expect(r.err).not.toContain("    at ");
  return r.err;
}

describe("durations are a whole number of nanoseconds, > 0, that a number holds exactly", () => {
  const cases: [string[], string][] = [
    [["--duration", "0.0001ns"], 'error: --duration "0.0001ns": expected a time > 0 with a unit'],
    [["--duration", "1.5ns"], 'error: --duration "1.5ns": expected a time > 0 with a unit'],
    [["--duration", "0.0000001ms"], 'error: --duration "0.0000001ms": expected'],
    [["--duration", "99999999999s"], 'error: --duration "99999999999s": expected'],
    [["--set", 'duration="0.4ns"'], "scenario /duration: "],
    [["--set", 'faults=[{"kind":"broker-restart","at":"1ms","downFor":"0.5ns"}]'], "/downFor"],
    [["check-policy", "first-fit", "--timeout", "0.1ns"], 'error: --timeout "0.1ns": expected'],
  ];
  for (const [argv, message] of cases)
    test(argv.join(" "), async () => {
      expect(badInput(await cli(...argv))).toContain(message);
    });

  test("fractions that come to whole nanoseconds still run", async () => {
    const r = await cli("--duration", "0.0025ms", "--set", 'paths=["direct"]', "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).durationNs).toBe(2500);
  });
});

describe("--set into a list takes an index, not a name, and leaves no gap", () => {
  const cases: [string, string][] = [
    ["machine.domains.first.strands=2", '"first" must be an index from 0 to 3 (3 adds one)'],
    ["machine.domains.5.strands=2", '"5" must be an index from 0 to 3'],
    ["paths.x=1", 'paths is a list of 3, so "x" must be an index'],
  ];
  for (const [set, message] of cases)
    test(`--set ${set}`, async () => {
      const r = await cli("--set", set, "--duration", "100us", "--quiet");
      expect(badInput(r)).toContain(`error: --set ${set.split("=")[0]}: `);
      expect(r.err).toContain(message);
    });
});

describe("output files", () => {
  test("two outputs naming one file are refused before the run (one would overwrite the other)", async () => {
    const html = join(dir, "same.html");
    const r = await cli("--out", `${dir}/./same.html`, "--report", html);
    expect(badInput(r)).toContain(`--report ${html}: the same file as --out; give each its own`);
    expect(existsSync(html)).toBe(false);
  });
});

describe("a scenario or plugin file that throws while it is imported", () => {
  test("exit 2, one line with file:line:column and the message", async () => {
    const scn = join(dir, "throws.ts");
    writeFileSync(scn, '// a scenario\nconst x = 1;\nthrow new Error("boom at import");\n');
    expect(badInput(await cli(scn))).toBe(
      `error: cannot load scenario file ${scn}: ${scn}:3:11: boom at import\n`,
    );
    const plugin = join(dir, "throws-plugin.ts");
    writeFileSync(plugin, `import { definePlugin } from "${CORE}";\nnotDefined.x = 1;\n`);
    expect(badInput(await cli("--plugin", plugin))).toBe(
      `error: plugin file "${plugin}" failed to load: ${plugin}:2:1: notDefined is not defined\n`,
    );
  });

  test("a scenario file without a scenario object says what it found", async () => {
    const num = join(dir, "number.ts");
    writeFileSync(num, "export default 42;\n");
    expect(badInput(await cli(num))).toBe(
      `error: scenario file ${num} exports a number by default; make it \`export default defineScenario({...})\`\n`,
    );
    const none = join(dir, "named.ts");
    writeFileSync(none, "export const scenario = {};\n");
    expect(badInput(await cli(none))).toContain(`scenario file ${none} has no default export; `);
  });

  test("a scenario file that is not there is named as such", async () => {
    const missing = join(dir, "nope.ts");
    expect(badInput(await cli(missing))).toBe(`error: scenario file ${missing} not found\n`);
  });
});

describe("check-policy's watchdog covers the import and the plugin's own setup too", () => {
  test("a policy file that loops at its top level is stopped, named by its path", async () => {
    const file = join(dir, "import-loops.ts");
    writeFileSync(file, "for (;;) {}\n");
    const r = await cli("check-policy", file, "--timeout", "300ms");
    expect(r).toEqual({
      code: 1,
      out: `${file}: FAIL  import (call 1) did not return within 10s; stopped\n`,
      err: "",
    });
  });

  test("an import slower than --timeout is no hang: the import has its own, longer limit", async () => {
    const file = join(dir, "slow-import.ts");
    writeFileSync(
      file,
      `import { definePlugin } from "${CORE}";
const t0 = performance.now(); // host clock: a slow import, 1 s
while (performance.now() - t0 < 1000) {}
export default definePlugin({ name: "slow", kind: "observer", version: "1.0.0", setup: () => ({}) });
`,
    );
    const r = await cli("check-policy", file, "--timeout", "300ms");
    expect(badInput(r)).toContain(
      "is a plugin of kind observer; check-policy checks policy.global",
    );
  });

  test("a setup that never returns is stopped and named", async () => {
    const file = join(dir, "setup-loops.ts");
    writeFileSync(
      file,
      `import { definePlugin } from "${CORE}";
export default definePlugin({
  name: "setup-loops", kind: "policy.local", version: "1.0.0",
  setup: () => { for (;;) {} },
});
`,
    );
    const t0 = performance.now(); // host clock: the watchdog is about wall time
    const r = await cli("check-policy", file, "--timeout", "300ms");
    expect(performance.now() - t0).toBeLessThan(30_000);
    expect(r).toEqual({
      code: 1,
      out: "setup-loops: FAIL  setup (call 2) did not return within 300ms; stopped\n",
      err: "",
    });
  });
});

describe("a bug is a stack trace with a line asking to report it; a closed stdout is not a bug", () => {
  test("anything thrown that is neither bad input nor a plugin's: exit 1, the stack, the request", async () => {
    let err = "";
    const broken = {
      write: () => {
        throw new TypeError("cannot write the table");
      },
    };
    const code = await main(["list"], { out: broken, err: { write: (s: string) => (err += s) } });
    expect(code).toBe(1);
    const lines = err.trimEnd().split("\n");
    expect(lines[0]).toBe("run failed: cannot write the table");
    expect(lines[1]).toBe("TypeError: cannot write the table");
    expect(lines.some((l) => l.startsWith("    at "))).toBe(true);
    expect(lines.at(-1)).toBe(
      "This is a bug (in sun4v-dvma or a plugin): please report it with the command line that caused it.",
    );
  });

  test("a reader that is gone before the output (`| true`, `| head`): no stack trace, exit 0", async () => {
    const sh = Bun.spawn(
      ["bash", "-c", `bun ${REPO}/core/cli/main.ts plugins | true; exit \${PIPESTATUS[0]}`],
      { stdout: "pipe", stderr: "pipe" },
    );
    const [code, err] = [await sh.exited, await new Response(sh.stderr).text()];
    expect({ code, err }).toEqual({ code: 0, err: "" });
  });
});

describe("a device whose setup failed is not driven (its driver retries)", () => {
  /** The configuration, on the service domain only; `window` bytes of DVMA. */
  async function serviceDomain(window: number) {
    const raw = applySets(await loadScenarioFile("default", REPO), [
      'duration="2ms"',
      'paths=["service-domain"]',
      `machine.rootComplexes.0.virtualDma={"base":2147483648,"size":${window}}`,
    ]);
    const scn = parseScenario(raw);
    return runScenario(raw, scn, await loadScenarioPlugins(scn, REPO)).points[0]!.paths[
      "service-domain"
    ]!;
  }

  test("a 128-page window: a ring that did not fit at boot is mapped on a retry; no DMA before", async () => {
    // With its ring unmapped a NIC fetched descriptors from DVMA 0: 769 I/Os failed as IOMMU
    // faults (outside-window) and the NICs carried half the traffic.
    const m = await serviceDomain(2 ** 20);
    expect(m.extra["errors.setup-failed"]).toBeGreaterThan(0);
    expect(m.faults).toBe(0);
    expect(m.extra["errors.outside-window"]).toBeUndefined();
    expect(m.extra.invariantViolations).toBe(0);
    // Both NICs came up: the traffic is that of the full window's run, to 10%.
    const full = await serviceDomain(2 ** 31);
    expect(full.extra["errors.setup-failed"]).toBeUndefined();
    expect(m.extra["nic.gbps"]!).toBeGreaterThan(0.9 * full.extra["nic.gbps"]!);
  });
});
