/**
 * Every code block of README.md runs here, as a new user would run it from the repository root:
 * `ts` blocks that start with `// <file>.ts` are written to that file; `sh` blocks run line by
 * line; a block that starts with `$ <command>` runs the command and the rest of the block must
 * appear in what it prints; the `text` tree names folders and files that exist.
 */

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { HAVE_REDIS, TestRedis } from "./helpers/redis.ts";

const REPO = resolve(import.meta.dir, "..");
/** The Redis the README's distributed example names; the test gives it a private server. */
const README_REDIS = "redis://redis-host:6379";
const MAIN = resolve(REPO, "core/cli/main.ts");
const README = await Bun.file(resolve(REPO, "README.md")).text();

/** Commands of the sh blocks that are not run here, and why. */
const NOT_RUN: Record<string, string> = {
  "npm i -g bun": "installs Bun, which runs this test",
  "bun install": "installs the dependencies this test already uses",
  "bun test": "runs the suite this test is part of",
  "bun run test": "runs the suite this test is part of",
};

interface Block {
  lang: string;
  body: string;
  line: number;
}

/** Fenced blocks, with their indentation (in list items) removed. */
export function codeBlocks(markdown: string): Block[] {
  const out: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j]!)) body.push(lines[j++]!.slice(indent));
    out.push({ lang: open[2]!, body: body.join("\n"), line: i + 1 });
    i = j;
  }
  return out;
}

/** A command line without its trailing comment, split at `&&`. */
function commands(line: string): string[] {
  return line
    .replace(/\s+#.*$/, "")
    .split("&&")
    .map((c) => c.trim())
    .filter((c) => c !== "");
}

// A fresh directory stands for the repository root: core/ and scenarios/ are links to ours.
const work = mkdtempSync(join(tmpdir(), "readme-"));
for (const dir of ["core", "scenarios"]) symlinkSync(resolve(REPO, dir), join(work, dir));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function sh(command: string) {
  const script = command
    .replaceAll("bun run scenario", `bun ${MAIN}`)
    .replaceAll("bun run explore", `bun ${resolve(REPO, "tools/explore.ts")}`);
  const proc = Bun.spawn(["bash", "-c", script], { cwd: work, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { out, err, code };
}

const blocks = codeBlocks(README);
for (const b of blocks.filter((b) => b.lang === "ts")) {
  const file = /^\/\/ (\S+\.ts)\n/.exec(b.body)?.[1];
  if (file) writeFileSync(join(work, file), b.body);
}

describe("README code blocks", () => {
  test("every block has a kind this test runs", () => {
    for (const b of blocks) {
      const runnable =
        b.lang === "sh" ||
        b.lang === "text" ||
        (b.lang === "ts" && /^\/\/ \S+\.ts\n/.test(b.body)) ||
        (b.lang === "" && b.body.startsWith("$ "));
      expect({ line: b.line, runnable }).toEqual({ line: b.line, runnable: true });
    }
  });

  test("the example policy is at most 30 lines (check-policy below times it on the real window)", () => {
    const policy = blocks.find((b) => b.body.startsWith("// my-policy.ts\n"))!;
    expect(policy.body.trimEnd().split("\n").length).toBeLessThanOrEqual(30);
  });

  for (const b of blocks.filter((b) => b.lang === "text")) {
    test(`line ${b.line}: the tree names what exists`, () => {
      const stack: { indent: number; name: string }[] = [];
      let named = 0;
      for (const line of b.body.split("\n")) {
        const m = /^(\s*)([\w.-]+\/?)(?:\s|$)/.exec(line);
        if (!m || !(m[2]!.endsWith("/") || m[2]!.endsWith(".ts"))) continue;
        const indent = m[1]!.length;
        while (stack.length > 0 && stack.at(-1)!.indent >= indent) stack.pop();
        const path = [...stack.map((s) => s.name), m[2]!].join("");
        expect({ path, exists: existsSync(resolve(REPO, path)) }).toEqual({ path, exists: true });
        named++;
        if (m[2]!.endsWith("/")) stack.push({ indent, name: m[2]! });
      }
      expect(named).toBeGreaterThan(10);
    });
  }

  for (const b of blocks.filter((b) => b.lang === "sh" && b.body.includes(README_REDIS))) {
    test.skipIf(!HAVE_REDIS)(`line ${b.line}: a sweep over Redis, workers and all`, () =>
      queueBlock(b.body),
    );
  }

  for (const b of blocks.filter((b) => b.lang === "sh" && !b.body.includes(README_REDIS))) {
    for (const line of b.body.split("\n").filter((l) => l.trim() !== "")) {
      for (const command of commands(line)) {
        if (command in NOT_RUN) continue;
        test(`line ${b.line}: ${command}`, async () => {
          if (command.includes("--serve")) return serve(command);
          const r = await sh(command);
          expect({ command, code: r.code, err: r.err }).toEqual({ command, code: 0, err: "" });
        });
      }
    }
  }

  for (const b of blocks.filter((b) => b.lang === "" && b.body.startsWith("$ "))) {
    const [first, ...shown] = b.body.split("\n");
    const command = first!.slice(2);
    test(`line ${b.line}: ${command} prints what the README shows`, async () => {
      const r = await sh(command);
      expect(r.code).toBe(0);
      const printed = r.out
        .split("\n")
        .map((l) => l.trimEnd())
        .join("\n");
      expect(printed).toContain(shown.map((l) => l.trimEnd()).join("\n"));
    });
  }
});

/**
 * A block of the distributed-sweep example: Redis is a private redis-server on a free port (for
 * `redis-host:6379`), lines ending in `&` are workers (started, then waited for), the rest run.
 */
async function queueBlock(body: string) {
  const redis = new TestRedis();
  const workers: Bun.Subprocess<"ignore", "ignore", "pipe">[] = [];
  try {
    for (const line of body.split("\n").filter((l) => l.trim() !== "")) {
      const command = commands(line)[0]!.replaceAll(README_REDIS, redis.url);
      if (command.startsWith("redis-server ")) await redis.start();
      else if (command.includes("--serve")) await serveQueued(command);
      else if (command.endsWith("&")) {
        const script = `exec ${command.slice(0, -1).replaceAll("bun run scenario", `bun ${MAIN}`)}`;
        const w = Bun.spawn(["bash", "-c", script], {
          cwd: work,
          stdout: "ignore",
          stderr: "pipe",
        });
        workers.push(w);
        const reader = w.stderr.pipeThrough(new TextDecoderStream()).getReader();
        let seen = "";
        while (!seen.includes("taking points")) {
          const { done, value } = await reader.read();
          if (done) throw new Error(`worker did not start: ${seen}`);
          seen += value;
        }
        reader.releaseLock();
      } else {
        const r = await sh(command);
        expect({ command, code: r.code, err: r.err }).toEqual({ command, code: 0, err: "" });
      }
    }
    expect(workers.length).toBeGreaterThan(1);
  } finally {
    for (const w of workers) w.kill("SIGTERM");
    await Promise.all(workers.map((w) => w.exited));
    await redis.close();
  }
}

/**
 * A queued sweep followed by --serve: it prints its URL, its run list shows the sweep until it is
 * done with the workers' results, and the report there is the one it prints; then SIGTERM.
 */
async function serveQueued(command: string) {
  const script = `exec ${command.replaceAll("bun run scenario", `bun ${MAIN}`)} --port 0`;
  const proc = Bun.spawn(["bash", "-c", script], { cwd: work, stdout: "pipe", stderr: "pipe" });
  try {
    const reader = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("runs done; still serving")) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`the sweep did not finish: ${seen}`);
      seen += value;
    }
    const url = /serving on (\S+)/.exec(seen)![1]!;
    type Listed = { id: number; status: string; queue: { workers: Record<string, number> } };
    const { runs } = (await (await fetch(`${url}state`)).json()) as { runs: Listed[] };
    expect(runs.map((r) => r.status)).toEqual(["done"]);
    // The report it lists is the one the same sweep wrote with --out a line earlier.
    const report = await (await fetch(`${url}runs/${runs[0]!.id}/report.json`)).text();
    expect(report).toBe(await Bun.file(join(work, "out/queued.json")).text());
    const { points } = JSON.parse(report) as { points: { paths: object }[] };
    const total = points.reduce((n, p) => n + Object.keys(p.paths).length, 0);
    expect(Object.values(runs[0]!.queue.workers).reduce((a, b) => a + b, 0)).toBe(total);
  } finally {
    proc.kill("SIGTERM");
  }
  expect(await proc.exited).toBe(0);
}

/** A --serve command serves until a signal: it must print its URL and answer there; then SIGTERM. */
async function serve(command: string) {
  // Any free port: 8787 may be taken by another test on this machine.
  const script = `exec ${command.replaceAll("bun run scenario", `bun ${MAIN}`)} --port 0`;
  const proc = Bun.spawn(["bash", "-c", script], { cwd: work, stdout: "pipe", stderr: "pipe" });
  try {
    const reader = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    let url: string | undefined;
    while (url === undefined) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`no URL printed: ${seen}`);
      seen += value;
      url = /serving on (\S+)/.exec(seen)?.[1];
    }
    expect((await fetch(url)).status).toBe(200);
  } finally {
    proc.kill("SIGTERM");
  }
  expect(await proc.exited).toBe(0);
}

/** The JSON report of a built-in scenario, run as the README's readers would. */
async function reportOf(name: string) {
  const r = await sh(`bun run scenario ${name} --json --workers 1`);
  expect(r.code).toBe(0);
  return JSON.parse(r.out) as {
    points: {
      params: Record<string, unknown>;
      paths: Record<string, PathFigures>;
    }[];
  };
}

interface PathFigures {
  latencyUs: { p50: number };
  cpu: Record<string, number>;
  perIo: { hypercalls: number; ldcMessages: number; iotlbFlushes: number };
  blocked: number;
  attacks: number;
  extra: Record<string, number>;
}

describe("figures the README quotes are figures the program prints", () => {
  test("negotiation: LDC messages, hypercalls, flushes, median latency, control-domain CPU", async () => {
    const [perMap, lease] = (await reportOf("negotiation")).points.map((p) => p.paths.direct!);
    const io = perMap!.perIo;
    expect(README).toContain(
      `per-mapping negotiation costs ${Math.round(io.ldcMessages)} LDC messages, ${Math.round(io.hypercalls)} hypercalls and ${Math.round(io.iotlbFlushes)} IOTLB\n  flushes per I/O`,
    );
    const p50 = (m: PathFigures) => m.latencyUs.p50.toFixed(1);
    expect(README).toContain(`(${p50(perMap!)} µs vs ${p50(lease!)} µs)`);
    expect(README).toContain(`to ${Math.round(perMap!.cpu.primary! * 100)}%;`);
  });

  test("isolation: attacks through with a shared IOTSB, all blocked per device", async () => {
    const [shared, perDevice] = (await reportOf("isolation")).points.map((p) => p.paths.direct!);
    const through = shared!.attacks - shared!.blocked;
    expect(README).toContain(`(${through} of ${shared!.attacks} attacks get through`);
    expect(perDevice!.blocked).toBe(perDevice!.attacks);
    expect(README).toContain(`with per-device isolation all ${perDevice!.attacks} are blocked`);
  });

  test("faults: no dead guest owns DVMA and no invariant is violated", async () => {
    const m = (await reportOf("faults")).points[0]!.paths.direct!;
    expect([m.extra["dvma.deadOwnedPages"], m.extra.invariantViolations]).toEqual([0, 0]);
    expect(m.extra.guestErrors).toBe(0);
    expect(README).toContain("(`guestErrors` 0)");
    expect(README).toContain("no dead guest owns DVMA");
    expect(README).toContain("no invariant is violated");
  });
});
