import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { loadPlugin } from "../../core/harness/plugin/loader.ts";
import { formatConformance, runConformance } from "../../core/harness/policy-kit/conformance.ts";

const REPO = resolve(import.meta.dir, "../..");

describe("the README's example policy", () => {
  test("loads from its path and passes the conformance kit", async () => {
    const plugin = await loadPlugin("./test/fixtures/my-policy.ts", { cwd: REPO });
    expect([plugin.name, plugin.kind]).toEqual(["my-lowest-fit", "policy.local"]);
    const report = runConformance(plugin);
    if (!report.passed) throw new Error(formatConformance(report));
    expect(formatConformance(report)).toEndWith("my-lowest-fit: all 6 checks passed");
  });
});
