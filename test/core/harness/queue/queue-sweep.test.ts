import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import Redis from "ioredis";
import { parseQueueUrl } from "../../../../core/harness/queue/redis-url.ts";
import {
  type Provenance,
  runScenarioQueued,
  SweepError,
} from "../../../../core/harness/queue/submit.ts";
import { reportJson } from "../../../../core/harness/report/report.ts";
import { cli } from "../../../helpers/cli.ts";
import { HAVE_REDIS, REDIS_SKIP_LINE, TestRedis, WorkerProcess } from "../../../helpers/redis.ts";

/**
 * Sweeps over a real Redis and two `bun run scenario worker` processes: the report is the local
 * run's byte for byte, also when a worker is killed mid-point; a point failing every time ends the
 * sweep with its reason; Ctrl-C and a Redis that lost its data end it clearly.
 */

const REPO = resolve(import.meta.dir, "../../../..");
/** Per test: a point handed on after a SIGKILL waits out the lock (10 s) and a stalled check (5 s). */
const LONG = 120_000;
const FAIL_PLUGIN = "test/fixtures/scenarios/fail-workload.ts";
/** The default scenario (two guests, three paths) at two seeds: six runs. */
const SWEEP = ["default", "--duration", "300us", "--set", 'matrix={"seed":[1,2]}'];
/** One path, three points; the middle one throws at 100 us of simulated time. */
const POISONED = [
  "default",
  "--plugin",
  FAIL_PLUGIN,
  "--duration",
  "200us",
  "--set",
  'paths=["direct"]',
  "--set",
  'workloads=[{"plugin":["fixture-fail",{"failAtUs":0}],"device":"nic"}]',
  "--set",
  'matrix={"workloads.0.plugin.1.failAtUs":[0,100,0]}',
];

/**
 * A scenario given as a file with a helper beside it: the submitter's copy in one directory, the
 * workers' in another (their --scenario-dir), so nothing but its name and hash can match them.
 */
function fileScenario(dir: string, seed: number, name = "fixture-file-sweep"): string {
  mkdirSync(dir, { recursive: true });
  const base = relative(dir, resolve(REPO, "scenarios/default.ts"));
  writeFileSync(join(dir, "seed.ts"), `export const SEED = ${seed};\n`);
  writeFileSync(
    join(dir, "file-sweep.ts"),
    `import base from "${base}";\nimport { SEED } from "./seed.ts";\n\nexport default { ...base, name: "${name}", seed: SEED, duration: "300us", paths: ["direct"], matrix: { seed: [SEED, SEED + 1] } };\n`,
  );
  return join(dir, "file-sweep.ts");
}

if (!HAVE_REDIS) console.warn(REDIS_SKIP_LINE);

describe.skipIf(!HAVE_REDIS)("sweeps over a Redis queue", () => {
  const redis = new TestRedis();
  let a: WorkerProcess;
  let b: WorkerProcess;
  let local: string;

  beforeAll(async () => {
    await redis.start();
    a = new WorkerProcess(redis.url, ["--plugin", FAIL_PLUGIN]);
    b = new WorkerProcess(redis.url, ["--plugin", FAIL_PLUGIN]);
    const ready = /taking points from/;
    [local] = await Promise.all([
      cli(...SWEEP, "--json", "--workers", "1").then((r) => r.out),
      a.waitFor(ready),
      b.waitFor(ready),
    ]);
  }, LONG);

  afterAll(async () => {
    await Promise.all([a.stop(), b.stop()]);
    await redis.close();
  }, LONG);

  test(
    "two workers give the local report byte for byte; provenance names them",
    async () => {
      const file = resolve(REPO, "out/queue-test.provenance.json");
      const r = await cli(...SWEEP, "--json", "--queue", redis.url, "--provenance", file);
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      expect(r.out).toBe(local);
      const prov = (await Bun.file(file).json()) as Provenance;
      expect(prov.points.map((p) => p.run)).toEqual([0, 1, 2, 3, 4, 5]);
      for (const p of prov.points) {
        expect([a.id, b.id].some((id) => p.worker.endsWith(id))).toBe(true);
        expect(p.wallMs).toBeGreaterThan(0);
      }
      expect(prov.points[2]).toMatchObject({ path: "bare-metal", params: { seed: 1 }, stalled: 0 });
    },
    LONG,
  );

  test(
    "a point whose plugin throws every time ends the sweep as locally: plugin and hook named, exit 3",
    async () => {
      const here = await cli(...POISONED, "--workers", "2");
      const r = await cli(...POISONED, "--queue", redis.url);
      expect(here.code).toBe(3);
      expect(r.code).toBe(3);
      expect(r.err).toBe(here.err);
      expect(r.err).toBe(
        "run failed: run 2/3 (path direct, workloads.0.plugin.1.failAtUs=100): [plugin fixture-fail] start: fixture failure at 100 us\n",
      );
      const tries = [...a.lines, ...b.lines].filter((l) =>
        /point 2\/3 .*: failed: .*fixture failure/.test(l),
      );
      expect(tries).toHaveLength(3);
    },
    LONG,
  );

  test(
    "bad input met by a worker exits 2 with the local message, without retries",
    async () => {
      const bad = [...SWEEP, "--set", 'workloads.0.plugin=["stream",{"op":"fly"}]'];
      const here = await cli(...bad, "--workers", "2");
      const r = await cli(...bad, "--queue", redis.url);
      expect(here.code).toBe(2);
      expect(r).toEqual(here);
    },
    LONG,
  );

  test(
    "Ctrl-C on the submitter cancels the sweep's remaining points",
    async () => {
      const stop = new AbortController();
      const spec = {
        target: "default",
        cwd: REPO,
        sets: ['duration="300us"', 'matrix={"seed":[1,2,3,4]}'],
        plugins: [],
      };
      const err = await runScenarioQueued(spec, {
        queue: parseQueueUrl(redis.url),
        signal: stop.signal,
        onPoint: () => stop.abort(),
      }).catch((e) => e);
      expect(err).toBeInstanceOf(SweepError);
      expect(err.message).toMatch(/^sweep cancelled with [12] of 12 runs done$/);
      const c = new Redis(redis.url);
      try {
        expect(await c.llen("bull:sun4v-dvma-sweeps:wait")).toBe(0);
        expect(await c.keys("sun4v-dvma-sweeps:sweep:*")).toEqual([]);
        // At most the points running at the moment of the cancel finish; no new one starts.
        await Bun.sleep(1500);
        const started = [...a.lines, ...b.lines].filter((l) =>
          / of default \(sweep .*\): started/.test(l),
        );
        const before = started.length;
        await Bun.sleep(1500);
        expect(
          [...a.lines, ...b.lines].filter((l) => / of default \(sweep .*\): started/.test(l))
            .length,
        ).toBe(before);
      } finally {
        c.disconnect();
      }
    },
    LONG,
  );

  test(
    "a worker killed with SIGKILL mid-point: the point is run again elsewhere, report unchanged",
    async () => {
      const file = resolve(REPO, "out/queue-test.killed.provenance.json");
      const from = a.lines.length;
      const sweep = cli(...SWEEP, "--json", "--queue", redis.url, "--provenance", file);
      const started = await a.waitFor(/: started$/, from);
      a.proc.kill("SIGKILL");
      const r = await sweep;
      expect(r.code).toBe(0);
      expect(r.out).toBe(local);
      const prov = (await Bun.file(file).json()) as Provenance;
      expect(prov.points.map((p) => p.run)).toEqual([0, 1, 2, 3, 4, 5]);
      const killed = Number(/point (\d+)\//.exec(started)![1]) - 1;
      expect(prov.points[killed]!.worker.endsWith(b.id)).toBe(true);
      expect(prov.points[killed]!.stalled).toBeGreaterThanOrEqual(1);
    },
    LONG,
  );

  test(
    "Redis restarted with its data: the sweep goes on, report unchanged",
    async () => {
      await redis.stop();
      await redis.start(true);
      await b.waitFor(/is back$/);
      let restarted = false;
      const lines: string[] = [];
      const spec = {
        target: "default",
        cwd: REPO,
        sets: ['duration="300us"', 'matrix={"seed":[1,2]}'],
        plugins: [],
      };
      const { report } = await runScenarioQueued(spec, {
        queue: parseQueueUrl(redis.url),
        log: (l) => lines.push(l),
        onPoint: () => {
          if (restarted) return;
          restarted = true;
          redis.stop().then(() => redis.start(true));
        },
      });
      expect(reportJson(report)).toBe(local);
      expect(lines).toContain(`queue: lost Redis at ${redis.url}; reconnecting`);
    },
    LONG,
  );

  test(
    "Redis restarted without its data: the sweep ends saying so",
    async () => {
      await redis.stop();
      await redis.start(false);
      let restarted = false;
      const spec = {
        target: "default",
        cwd: REPO,
        sets: ['duration="300us"', 'matrix={"seed":[1,2]}'],
        plugins: [],
      };
      const err = await runScenarioQueued(spec, {
        queue: parseQueueUrl(redis.url),
        onPoint: () => {
          if (restarted) return;
          restarted = true;
          redis.stop().then(() => redis.start(false));
        },
      }).catch((e) => e);
      expect(err).toBeInstanceOf(SweepError);
      expect(err.message).toMatch(
        new RegExp(
          `^Redis at ${redis.url} lost the sweep \\(restarted without persistence\\?\\) with [1-5] of 6 runs done; run it again$`,
        ),
      );
    },
    LONG,
  );
});

describe.skipIf(!HAVE_REDIS)("scenario files over a Redis queue", () => {
  // Its own Redis and workers: the workers are started with a --scenario-dir.
  const redis = new TestRedis();
  const files = mkdtempSync(join(tmpdir(), "sun4v-files-"));
  const mine = fileScenario(join(files, "submitter"), 5);
  let a: WorkerProcess;
  let b: WorkerProcess;

  beforeAll(async () => {
    await redis.start();
    fileScenario(join(files, "workers"), 5);
    const own = ["--scenario-dir", join(files, "workers")];
    a = new WorkerProcess(redis.url, own);
    b = new WorkerProcess(redis.url, own);
    await Promise.all([a.waitFor(/taking points from/), b.waitFor(/taking points from/)]);
  }, LONG);

  afterAll(async () => {
    await Promise.all([a.stop(), b.stop()]);
    await redis.close();
    rmSync(files, { recursive: true, force: true });
  }, LONG);

  test(
    "a scenario file runs on workers that have the same file (name and hash, helper included)",
    async () => {
      const here = await cli(mine, "--json", "--workers", "1");
      expect(here.code).toBe(0);
      const r = await cli(mine, "--json", "--queue", redis.url);
      expect(r.err).toBe("");
      expect(r.out).toBe(here.out);
      // The same scenario with another helper: the workers' copy is another version, and the
      // sweep says so (another directory: this process has the first one's modules loaded).
      const changed = await cli(fileScenario(join(files, "changed"), 6), "--queue", redis.url);
      expect(changed.code).toBe(1);
      expect(changed.err).toMatch(
        /^run failed: run [12]\/2 \(path direct, seed=[67]\): worker \S+ has a different scenario "fixture-file-sweep" \(hash [0-9a-f]{16}, the sweep's [0-9a-f]{16}\): run the same version everywhere\n$/,
      );
      // A scenario no worker has by that name.
      const other = fileScenario(join(files, "other"), 5, "fixture-nowhere");
      const missing = await cli(other, "--json", "--queue", redis.url);
      expect(missing.code).toBe(1);
      expect(missing.err).toMatch(
        /worker \S+ has no scenario "fixture-nowhere" \(built-in, or in a --scenario-dir it was started with\)\n$/,
      );
    },
    LONG,
  );
});

describe("queue flags are checked before any work", () => {
  test("the worker command has its own help", async () => {
    const r = await cli("worker", "--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("USAGE scenario worker [OPTIONS]");
    expect(r.out).toContain("--concurrency");
  });

  test(
    "a wrong or unreachable address, or a flag out of place, exits 2 with one line",
    async () => {
      const cases: [string[], RegExp][] = [
        [
          ["--queue", "http://x:1"],
          /^error: --queue "http:\/\/x:1": scheme http: is not redis:; expected redis:\/\/host:port\[\/db\]/,
        ],
        [["--queue", "redis://127.0.0.1:1/x"], /database "x" is not a number/],
        [
          ["--queue", "redis://127.0.0.1:1"],
          /^error: cannot reach Redis at redis:\/\/127.0.0.1:1: .*ECONNREFUSED/,
        ],
        [["--provenance", "p.json"], /^error: --provenance only applies with --queue$/],
        [
          ["--queue", "redis://127.0.0.1:1", "--workers", "2"],
          /^error: --workers runs a sweep on this machine/,
        ],
        [
          ["--queue", "redis://127.0.0.1:1", "--serve"],
          /^error: --queue: live watches runs in this process, and a queued sweep runs elsewhere/,
        ],
        [["worker"], /^error: worker needs --queue/],
        [
          ["worker", "--queue", "redis://127.0.0.1:1", "--seed", "3"],
          /^error: unknown flag --seed; allowed: --queue, --concurrency, --plugin, --scenario-dir$/,
        ],
        [
          ["worker", "--queue", "redis://127.0.0.1:1", "--concurrency", "0"],
          /^error: --concurrency "0": expected a whole number from 1 up$/,
        ],
      ];
      for (const [argv, re] of cases) {
        const r = await cli(...argv);
        expect({ argv, code: r.code, lines: r.err.split("\n").length - 1 }).toEqual({
          argv,
          code: 2,
          lines: 1,
        });
        expect(r.err.trimEnd()).toMatch(re);
        expect(r.out).toBe("");
      }
    },
    LONG,
  );
});
