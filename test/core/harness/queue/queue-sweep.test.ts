import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import Redis from "ioredis";
import { parseQueueUrl } from "../../../../core/harness/queue/redis-url.ts";
import {
  type Provenance,
  runScenarioQueued,
  SweepError,
} from "../../../../core/harness/queue/submit.ts";
import { type Report, reportJson } from "../../../../core/harness/report/report.ts";
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

/** `bun run scenario … --serve --port 0` as its own process; `until` waits for a stderr match. */
function serving(argv: string[]) {
  const proc = Bun.spawn(["bun", "core/cli/main.ts", ...argv, "--serve", "--port", "0"], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
  });
  const err = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const until = async (re: RegExp) => {
    for (let m = seen.match(re); ; m = seen.match(re)) {
      if (m) return m;
      const { done, value } = await err.read();
      if (done) throw new Error(`stderr ended before ${re}: ${seen}`);
      seen += value;
    }
  };
  return { proc, until };
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
      // Written atomically (a new file renamed over the old): a reader of the old one keeps it.
      const reader = resolve(REPO, "out/queue-test.provenance.reader.json");
      mkdirSync(dirname(file), { recursive: true });
      rmSync(reader, { force: true });
      writeFileSync(file, "old");
      linkSync(file, reader);
      const r = await cli(...SWEEP, "--json", "--queue", redis.url, "--provenance", file);
      expect(readFileSync(reader, "utf8")).toBe("old");
      rmSync(reader);
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
      // Run once, not retried: the run is deterministic, so every try would throw the same.
      const lines = [...a.lines, ...b.lines].filter((l) => /point 2\/3 of default/.test(l));
      expect(lines.filter((l) => /: started$/.test(l))).toHaveLength(1);
      expect(lines.filter((l) => /: failed: .*fixture failure/.test(l))).toHaveLength(1);
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
    "--serve follows the queued sweep: a client sees every point's result, tagged; the report is the local one",
    async () => {
      const { proc, until } = serving([...SWEEP, "--json", "--queue", redis.url]);
      try {
        const [, url] = await until(/live: serving on (http:\/\/127\.0\.0\.1:\d+\/)/);
        // From the first item on (Last-Event-ID 0), so no notice is missed however fast the workers go.
        const feed = await fetch(`${url}events`, { headers: { "last-event-id": "0" } });
        expect(feed.status).toBe(200);
        const reader = feed.body!.pipeThrough(new TextDecoderStream()).getReader();
        // Connected while the sweep goes on: not every point was done yet.
        const early = (await (await fetch(`${url}state`)).json()) as {
          runs: { progress: { done: number; total: number } }[];
        };
        expect(early.runs[0]!.progress.total).toBe(6);
        expect(early.runs[0]!.progress.done).toBeLessThan(6);
        let text = "";
        const frames = () =>
          text
            .split("\n\n")
            .filter((f) => /^event: (run|result)$/m.test(f))
            .map((f) => ({
              event: /^event: (\w+)$/m.exec(f)![1]!,
              data: JSON.parse(/^data: (.*)$/m.exec(f)![1]!) as Record<string, unknown>,
            }));
        const results = (async () => {
          while (frames().filter((f) => f.event === "result").length < 6) {
            const { done, value } = await reader.read();
            if (done) break;
            text += value;
          }
        })();
        await until(/runs done; still serving/);
        await Promise.race([results, Bun.sleep(5000)]);
        reader.cancel().catch(() => {});
        const state = (await (await fetch(`${url}state`)).json()) as {
          running: unknown[];
          results: { index: number; run: number; worker: string; metrics: unknown }[];
          runs: {
            id: number;
            status: string;
            progress: { done: number; total: number };
            downloads: string[];
            queue: {
              url: string;
              sweep: string;
              workers: Record<string, number>;
              points: { index: number; path: string; worker: string; run: number }[];
            };
          }[];
        };
        const download = await (await fetch(`${url}runs/${state.runs[0]!.id}/report.json`)).text();
        proc.kill("SIGTERM");
        expect(await proc.exited).toBe(0);
        expect(await new Response(proc.stdout).text()).toBe(local);
        expect(download).toBe(local);
        // Every point's result, each tagged with its plan index and the worker that ran it,
        // carrying the metrics the report has for that point and path.
        const want = (JSON.parse(local) as Report).points.flatMap((p) =>
          Object.entries(p.paths).map(([path, metrics]) => ({ path, metrics })),
        );
        const got = frames().filter((f) => f.event === "result");
        expect(got.map((f) => f.data.index).sort()).toEqual([0, 1, 2, 3, 4, 5]);
        const runNotice = new Map(
          frames()
            .filter((f) => f.event === "run")
            .map((f) => [f.data.run, f.data]),
        );
        const ids = [a.id, b.id];
        for (const { data } of got) {
          const i = data.index as number;
          expect({ path: data.path, metrics: data.metrics }).toEqual(want[i]!);
          expect(ids.some((id) => (data.worker as string).endsWith(id))).toBe(true);
          expect(runNotice.get(data.run)).toMatchObject({
            index: i,
            total: 6,
            path: want[i]!.path,
          });
        }
        // The run list: the sweep, done, with who ran each point; its report downloadable.
        expect(state.running).toEqual([]);
        expect(state.runs).toHaveLength(1);
        const sweep = state.runs[0]!;
        expect(sweep.status).toBe("done");
        expect(sweep.progress).toEqual({ done: 6, total: 6 });
        expect(sweep.downloads).toContain("report.json");
        expect(sweep.queue.url).toBe(redis.url);
        expect(sweep.queue.sweep).toMatch(/^[0-9a-f-]{13}$/);
        expect(sweep.queue.points.map((p) => p.index).sort()).toEqual([0, 1, 2, 3, 4, 5]);
        expect(Object.values(sweep.queue.workers).reduce((x, y) => x + y, 0)).toBe(6);
        for (const p of sweep.queue.points) {
          expect(p.path).toBe(want[p.index]!.path);
          expect(got.find((f) => f.data.index === p.index)!.data).toMatchObject({
            run: p.run,
            worker: p.worker,
          });
        }
      } finally {
        proc.kill();
      }
    },
    LONG,
  );

  test(
    "Ctrl-C (SIGINT) on a submitter that serves: the sweep is cancelled, the server stops, exit 130",
    async () => {
      const seeds = JSON.stringify([1, 2, 3, 4, 5, 6, 7, 8]);
      const argv = ["default", "--duration", "300us", "--set", `matrix={"seed":${seeds}}`];
      const { proc, until } = serving([...argv, "--queue", redis.url]);
      try {
        const [, url] = await until(/live: serving on (http:\/\/127\.0\.0\.1:\d+\/)/);
        type Listed = { status: string; progress: { done: number; total: number } };
        const listed = async () =>
          ((await (await fetch(`${url}state`)).json()) as { runs: Listed[] }).runs[0]!;
        while ((await listed()).progress.done === 0) await Bun.sleep(100);
        proc.kill("SIGINT");
        expect(await proc.exited).toBe(130);
        const [line] = await until(/^cancelled: .*$/m);
        const done = Number(/with (\d+) of 24 runs done$/.exec(line)![1]);
        expect(done).toBeGreaterThan(0);
        expect(done).toBeLessThan(24);
        // The server went with the sweep: nothing listens there any more.
        expect(
          await fetch(`${url}health`).then(
            () => "answered",
            () => "refused",
          ),
        ).toBe("refused");
        const c = new Redis(redis.url);
        try {
          expect(await c.llen("bull:sun4v-dvma-sweeps:wait")).toBe(0);
          expect(await c.keys("sun4v-dvma-sweeps:sweep:*")).toEqual([]);
        } finally {
          c.disconnect();
        }
      } finally {
        proc.kill();
      }
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
        sets: ['duration="10ms"', 'matrix={"seed":[1,2]}'],
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
          ["--queue", "redis://127.0.0.1:1", "--serve", "--pace", "1"],
          /^error: --queue: live can pace runs in this process only; the workers run as fast as they can$/,
        ],
        [
          [
            "--queue",
            "redis://127.0.0.1:1",
            "--plugin",
            "test/fixtures/flagged-observer.ts",
            "--count-to",
            "n.txt",
          ],
          /^error: --queue: fixture-flagged watches runs in this process, and a queued sweep runs elsewhere; leave out its flags$/,
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
