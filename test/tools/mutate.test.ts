/** `bun run mutate --summary`: the scores of reports already there, without running Stryker. */
import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const TOOL = resolve(import.meta.dir, "../../tools/mutate.ts");

function run(cwd: string, ...args: string[]) {
  return runWith({}, cwd, ...args);
}

function runWith(env: Record<string, string>, cwd: string, ...args: string[]) {
  const r = Bun.spawnSync(["bun", TOOL, ...args], {
    cwd,
    env: { ...process.env, MUTATE_PART: "", ...env },
  });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

test("scores as Stryker counts them and with timeouts as survivors; a missing report or area exits 2", () => {
  const dir = mkdtempSync(join(tmpdir(), "mutate-"));
  try {
    mkdirSync(join(dir, "out/mutation"), { recursive: true });
    const mutants = (status: string, n: number) => Array.from({ length: n }, () => ({ status }));
    const files = {
      "a.ts": { mutants: [...mutants("Killed", 6), ...mutants("Timeout", 2)] },
      "b.ts": { mutants: [...mutants("Survived", 1), ...mutants("NoCoverage", 1)] },
    };
    writeFileSync(join(dir, "out/mutation/hv.json"), JSON.stringify({ files }));
    const ok = run(dir, "--summary", "hv");
    expect(ok.code).toBe(0);
    expect(ok.out).toBe(
      'mutation hv: 80.00% ({"Killed":6,"Timeout":2,"Survived":1,"NoCoverage":1}); timeouts as survivors: 60.00%\n',
    );
    const missing = run(dir, "--summary", "iommu");
    expect(missing.code).toBe(2);
    expect(missing.err).toBe(
      "mutate: no report out/mutation/iommu.json (run `bun run mutate iommu` first)\n",
    );
    const unknown = run(dir, "--summary", "nope");
    expect(unknown.code).toBe(2);
    expect(unknown.err).toBe(
      'mutate: unknown area "nope" (areas: iommu, hv, domains, checked-policy)\n',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a time limit that is not a positive integer of ms exits 2 before any work", () => {
  const dir = mkdtempSync(join(tmpdir(), "mutate-"));
  try {
    for (const bad of ["1.5", "0", "10s", ""]) {
      const r = runWith({ MUTATE_TIMEOUT_MS: bad }, dir, "hv");
      expect([r.code, r.err]).toEqual([
        2,
        `mutate: MUTATE_TIMEOUT_MS must be a positive integer of ms, got "${bad}"\n`,
      ]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
