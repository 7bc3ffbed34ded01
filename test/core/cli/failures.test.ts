import { describe, expect, test } from "bun:test";
import { EXIT_PLUGIN_ERRORS, failureSummary } from "../../../core/harness/scenario/failures.ts";
import { runScenarioParallel } from "../../../core/harness/scenario/parallel.ts";
import { runScenario } from "../../../core/harness/scenario/run-scenario.ts";
import { loadSpec } from "../../../core/harness/scenario/spec.ts";
import { cli } from "../../helpers/cli.ts";

const wrong = (every: number) => [
  "--plugin",
  "test/fixtures/wrong-policy.ts",
  "--set",
  `policies.local=["wrong-policy",{"every":${every}}]`,
  "--set",
  'paths=["direct"]',
  "--duration",
  "1ms",
  "--quiet",
  "--workers",
  "1",
];

describe("plugin errors surface at the end of a run", () => {
  test("an always-wrong policy: named with hook, value, count, first time and seed; exit 3", async () => {
    const r = await cli(...wrong(1));
    expect(r.code).toBe(EXIT_PLUGIN_ERRORS);
    expect(r.err).toMatch(
      /^\[plugin wrong-policy\] alloc: returned \d+ for alloc\(npages \d+, align 1, cpu \d+\): page \d+ is already allocated\n {2}\d+× in path direct; first at t=\d+ns, seed 1\n/,
    );
    expect(r.err).not.toContain("    at "); // no stack trace
  });

  test("a policy wrong once in 50 allocations is not silent either", async () => {
    const r = await cli(...wrong(50));
    expect(r.code).toBe(EXIT_PLUGIN_ERRORS);
    expect(r.err).toContain("[plugin wrong-policy] alloc: returned");
  });

  test("--tolerate-plugin-errors still reports them, and exits 0", async () => {
    const r = await cli(...wrong(50), "--tolerate-plugin-errors");
    expect(r.code).toBe(0);
    expect(r.err).toContain("[plugin wrong-policy] alloc: returned");
  });

  test("the JSON report carries them per run", async () => {
    const r = await cli(...wrong(50), "--json", "--tolerate-plugin-errors");
    const m = JSON.parse(r.out).points[0].paths.direct;
    expect(m.pluginErrors).toHaveLength(1);
    expect(m.pluginErrors[0]).toMatchObject({ plugin: "wrong-policy", hook: "alloc" });
    expect(m.pluginErrors[0].count).toBe(m.extra.policyErrors);
    expect(m.extra.invariantViolations).toBe(0);
  });

  test("runs on worker threads report them as the serial runs do", async () => {
    const spec = {
      target: "default",
      cwd: process.cwd(),
      sets: [
        'policies.local=["wrong-policy",{"every":50}]',
        'paths=["direct","service-domain"]',
        'duration="1ms"',
      ],
      plugins: ["test/fixtures/wrong-policy.ts"],
    };
    const { raw, scn, table } = await loadSpec(spec);
    const serial = failureSummary(runScenario(raw, scn, table));
    const parallel = failureSummary(
      await runScenarioParallel(spec, { workers: 2, workerWorthMs: 0 }),
    );
    expect(serial).toContain("× in path service-domain; first at t=");
    expect(parallel).toBe(serial);
  });

  test("a clean run reports nothing and exits 0", async () => {
    const r = await cli("--duration", "1ms", "--quiet", "--set", 'paths=["direct"]');
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
  });
});
