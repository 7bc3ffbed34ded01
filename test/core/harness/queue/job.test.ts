import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import {
  catalogue,
  fileHash,
  importClosure,
  matchJob,
} from "../../../../core/harness/queue/identity.ts";
import {
  decodeJob,
  decodeProgress,
  decodeResult,
  type PointJob,
} from "../../../../core/harness/queue/job.ts";
import { finalReason, ThreadRunError } from "../../../../core/harness/queue/threads.ts";
import { applySets } from "../../../../core/harness/scenario/load.ts";
import { loadSpec } from "../../../../core/harness/scenario/spec.ts";

/** What a worker accepts from the queue: names and hashes only, never a path or a prototype key. */

const REPO = resolve(import.meta.dir, "../../../..");
const FAIL_PLUGIN = "test/fixtures/scenarios/fail-workload.ts";

const job = (over: Partial<PointJob> = {}): PointJob => ({
  sweep: "ab12-cd34",
  index: 0,
  runs: 3,
  scenario: { name: "default", hash: "0" },
  sets: [],
  plugins: [],
  ...over,
});

describe("queue data", () => {
  test("a job is decoded only when every field has its shape", () => {
    expect(decodeJob(job())).toEqual(job());
    expect(decodeJob(null)).toBe("job data is not an object");
    expect(decodeJob(job({ index: 3 }))).toBe("job index out of range");
    expect(decodeJob(job({ sweep: "../x" }))).toBe("job has no valid sweep id");
    expect(decodeJob({ ...job(), sets: [1] })).toBe("job sets are not strings");
    expect(decodeJob({ ...job(), plugins: [{ name: "x", hash: "../y" }] })).toBe(
      "job plugins are not named",
    );
  });

  test("--set never reaches a prototype, from the queue or the command line", () => {
    expect(() => applySets({}, ["__proto__.polluted=1"])).toThrow(
      '--set __proto__.polluted: "__proto__" is not allowed as a key (it would reach a prototype)',
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("a result is plain data with metrics, an event count and a worker", () => {
    const metrics = { ios: 3, cpu: { primary: 0.5 }, latencyUs: { p50: 1 } };
    const ok = { metrics, events: 10, worker: "h:1", wallMs: 5 };
    expect(decodeResult(ok)).toEqual(ok as never);
    expect(decodeResult({ ...ok, events: -1 })).toBe("result has no event count");
    expect(decodeResult({ ...ok, metrics: { cpu: {} } })).toBe("result has no metrics");
    expect(
      decodeResult(
        JSON.parse(
          '{"metrics":{"ios":1,"cpu":{},"__proto__":{"x":1}},"events":1,"worker":"w","wallMs":1}',
        ),
      ),
    ).toBe("result is not plain data");
    expect(decodeResult({ ...ok, worker: "../plugins/x.ts" })).toBe("result names no worker");
    expect(decodeResult({ ...ok, worker: "h:1".repeat(100) })).toBe("result names no worker");
  });

  test("progress is two plain counts and a worker label; anything else is dropped", () => {
    const ok = { simulatedNs: 1500.5, events: 10, worker: "host-1.lab:42" };
    expect(decodeProgress(ok)).toEqual(ok);
    expect(decodeProgress({ simulatedNs: 1, events: 2 })).toEqual({ simulatedNs: 1, events: 2 });
    // A bad label is left out, the figures kept.
    expect(decodeProgress({ ...ok, worker: "/tmp/x.ts" })).toEqual({
      simulatedNs: 1500.5,
      events: 10,
    });
    expect(decodeProgress({ ...ok, worker: { toString: 1 } })).toEqual({
      simulatedNs: 1500.5,
      events: 10,
    });
    for (const bad of [null, [], "x", { ...ok, simulatedNs: Number.NaN }, { ...ok, events: -1 }])
      expect(decodeProgress(bad)).toBeUndefined();
    expect(decodeProgress({ ...ok, simulatedNs: "1" })).toBeUndefined();
    expect(decodeProgress({ ...ok, simulatedNs: Number.POSITIVE_INFINITY })).toBeUndefined();
    const polluted = decodeProgress(JSON.parse('{"simulatedNs":1,"events":1,"__proto__":{"x":1}}'));
    expect(Object.getPrototypeOf(polluted)).toBe(Object.prototype);
    expect((polluted as unknown as Record<string, unknown>).x).toBeUndefined();
  });

  test("a spec built from queue data refuses plugins named by path", async () => {
    const spec = {
      target: "default",
      cwd: REPO,
      sets: [`workloads.0.plugin=["${FAIL_PLUGIN}",{}]`],
      plugins: [],
    };
    expect((await loadSpec(spec)).table.has(FAIL_PLUGIN)).toBe(true); // the command line may
    await expect(loadSpec({ ...spec, namesOnly: true })).rejects.toThrow(
      `plugin "${FAIL_PLUGIN}" is named by path; name it by its registered name`,
    );
  });
});

describe("a worker runs only what it has, in the same version", () => {
  test("missing or different scenario or plugin: the reason names it", async () => {
    const bare = await catalogue(REPO, []);
    const withFail = await catalogue(REPO, [FAIL_PLUGIN]);
    const scenario = { name: "default", hash: await fileHash(bare.scenarios.get("default")![0]!) };
    const plugin = { name: "fixture-fail", hash: await fileHash(resolve(REPO, FAIL_PLUGIN)) };
    const ok = job({ scenario, plugins: [plugin] });
    expect(await matchJob(ok, withFail, "h:1")).toEqual({
      file: resolve(REPO, "scenarios/default.ts"),
    });
    expect(await matchJob(ok, bare, "h:1")).toEqual({
      why: 'worker h:1 has no plugin "fixture-fail": start it with --plugin <file> defining it',
    });
    expect(
      await matchJob(job({ scenario, plugins: [{ ...plugin, hash: "00" }] }), withFail, "h:1"),
    ).toEqual({
      why: `worker h:1 has a different plugin "fixture-fail" (hash ${plugin.hash}, the sweep's 00): run the same version everywhere`,
    });
    expect(await matchJob(job({ scenario: { name: "mine", hash: "0" } }), bare, "h:1")).toEqual({
      why: 'worker h:1 has no scenario "mine" (built-in, or in a --scenario-dir it was started with)',
    });
    const other = await matchJob(job({ scenario: { name: "default", hash: "0" } }), bare, "h:1");
    expect("why" in other && other.why).toMatch(
      /^worker h:1 has a different scenario "default" \(hash [0-9a-f]{16}, the sweep's 0\)/,
    );
  });
});

describe("a file's hash covers its local imports", () => {
  /** A plugin-like file importing a helper that imports another, and the core by relative path. */
  function tree(dir: string, helper: string): string {
    mkdirSync(join(dir, "lib"), { recursive: true });
    writeFileSync(
      join(dir, "main.ts"),
      `import { k } from "./lib/helper.ts";\nimport { round } from "${relative(dir, resolve(REPO, "core/index.ts"))}";\nexport default round(k);\n`,
    );
    writeFileSync(
      join(dir, "lib/helper.ts"),
      `import { j } from "./deep";\nexport const k = j + 1;\n`,
    );
    writeFileSync(
      join(dir, "lib/deep.ts"),
      `import { k } from "./helper.ts";\nexport const j = ${helper};\nvoid k;\n`,
    );
    return join(dir, "main.ts");
  }

  test("relative imports, recursively (cycles once); not the core; a changed helper changes the hash; the same files elsewhere hash the same", async () => {
    const root = mkdtempSync(join(tmpdir(), "sun4v-hash-"));
    try {
      const a = tree(join(root, "a"), "1");
      const b = tree(join(root, "b"), "1");
      const c = tree(join(root, "c"), "2"); // only the helper's helper differs
      expect((await importClosure(a)).map((f) => relative(join(root, "a"), f))).toEqual([
        "main.ts",
        "lib/helper.ts",
        "lib/deep.ts",
      ]);
      expect(await fileHash(a)).toBe(await fileHash(b));
      expect(await fileHash(c)).not.toBe(await fileHash(a));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("which failed points are tried again", () => {
  test("a run that threw fails for good (input, plugin, or a bug); a thread that died is retried", () => {
    expect(finalReason(new ThreadRunError("--set x: no such key", true))).toBe(
      "bad input: --set x: no such key",
    );
    const plugin = new ThreadRunError("[plugin p] alloc: bad", false, ["p", "alloc"]);
    expect(finalReason(plugin)).toBe("plugin error: [plugin p] alloc: bad");
    // A bug in the model throws the same on every try (same seed): trying again only costs.
    expect(finalReason(new ThreadRunError("Resource.release() without a grant", false))).toBe(
      "Resource.release() without a grant",
    );
    expect(finalReason(new Error("the run thread exited"))).toBeUndefined();
  });
});
