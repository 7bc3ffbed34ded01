/**
 * The attacks of issue 9, over real loopback sockets against a server started as the CLI
 * starts it (defaults: loopback, no token). Each must be refused with no side effect: the
 * marker file a named file would write stays absent, prototypes stay clean, nothing runs.
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import type { LiveServer } from "../../../plugins/live/index.ts";
import { startLive } from "./helpers.ts";

const FIXTURE = resolve(import.meta.dir, "../../fixtures/live/marker.ts");
const NOEXT = resolve(import.meta.dir, "../../fixtures/live/marker-noext");
const dir = mkdtempSync(join(tmpdir(), "sun4v-live-sec-"));
const MARKER = join(dir, "marker");
process.env.SUN4V_LIVE_MARKER = MARKER;
const LINK = join(dir, "first-fit.ts");
symlinkSync(FIXTURE, LINK);

let srv: LiveServer;
beforeAll(() => {
  srv = startLive();
});
afterAll(async () => {
  await srv.stop();
  rmSync(dir, { recursive: true, force: true });
});

const imports = () => (globalThis as { sun4vMarkerImports?: number }).sun4vMarkerImports ?? 0;

async function post(body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${srv.url}runs`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { error: string; path: string } };
}

/** Every plugin-naming field, by every spelling of a path we could think of. */
function pathSpellings(): string[] {
  const rel = relative(process.cwd(), FIXTURE);
  return [
    FIXTURE,
    `./${rel}`,
    rel,
    NOEXT,
    LINK,
    `file://${FIXTURE}`,
    encodeURIComponent(FIXTURE),
    FIXTURE.replaceAll("/", "\u2215"), // division slash
    FIXTURE.replaceAll("/", "\uff0f"), // fullwidth solidus
    `${FIXTURE}\u0000`,
    "../../test/fixtures/live/marker",
    "marker",
  ];
}

describe("live security: nothing from the network names a file to import", () => {
  test("paths in every plugin field, the matrix and the scenario are 400s naming the field", async () => {
    const fields = [
      "policies.global",
      "policies.local",
      "paths.0",
      "devices.nic",
      "workloads.0.plugin",
    ];
    for (const spec of pathSpellings()) {
      for (const f of fields) {
        const r = await post({ scenario: "default", set: [`${f}=${JSON.stringify(spec)}`] });
        expect({ spec, f, status: r.status }).toEqual({ spec, f, status: 400 });
        expect(r.body.error).not.toContain(dir);
      }
      // Through the matrix, and as an [name, options] pair.
      for (const set of [
        [`matrix={"policies.global":["first-fit",${JSON.stringify(spec)}]}`],
        [`policies.global=[${JSON.stringify(spec)},{}]`],
      ]) {
        const r = await post({ scenario: "default", set });
        expect({ spec, set, status: r.status }).toEqual({ spec, set, status: 400 });
      }
      const s = await post({ scenario: spec });
      expect({ spec, status: s.status, path: s.body.path }).toEqual({
        spec,
        status: 400,
        path: "/scenario",
      });
    }
    const named = await post({ scenario: "default", set: [`policies.global=${FIXTURE}`] });
    expect(named.body.error).toContain("policies.global");
    // Nor do plugin options: replay reads the trace its options name.
    for (const file of [FIXTURE, "trace.csv", "../x", "file:///etc/hostname"]) {
      const w = `workloads=[{"plugin":["replay",{"file":${JSON.stringify(file)}}]}]`;
      const r = await post({ scenario: "default", set: [w] });
      expect({ file, status: r.status }).toEqual({ file, status: 400 });
      expect(r.body.error).toContain("may not name files");
    }
    expect(named.body.path).toBe("/set");
    expect(existsSync(MARKER)).toBe(false);
    expect(imports()).toBe(0);
    expect(srv.runs.list()).toHaveLength(0);
  }, 60_000);

  test("prototype keys are refused anywhere in a set path or value; prototypes stay clean", async () => {
    const sets = [
      "__proto__.token=owned",
      "__proto__.nic=/tmp/x.ts",
      "cost.__proto__.polluted=1",
      "constructor.prototype.polluted=1",
      "machine.constructor.prototype.polluted=1",
      'cost={"__proto__":{"polluted":1}}',
      'matrix={"__proto__.polluted":[1]}',
      "prototype.polluted=1",
    ];
    for (const s of sets) {
      const r = await post({ scenario: "default", set: [s] });
      expect({ s, status: r.status }).toEqual({ s, status: 400 });
    }
    const r = await post('{"scenario":"default","__proto__":{"token":"owned"}}');
    expect(r.status).toBe(400);
    expect(({} as Record<string, unknown>).token).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).nic).toBeUndefined();
    // The server still answers without a token.
    expect((await fetch(`${srv.url}health`)).status).toBe(200);
  }, 30_000);
});

describe("live security: same origin only", () => {
  test("a cross-origin text/plain POST (a form on another site) is refused before any run", async () => {
    const body = JSON.stringify({ scenario: "default", duration: "100us" });
    const plain = await fetch(`${srv.url}runs`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body,
    });
    expect(plain.status).toBe(415);
    const foreign = await fetch(`${srv.url}runs`, {
      method: "POST",
      headers: { "content-type": "text/plain", origin: "https://attacker.example" },
      body,
    });
    expect(foreign.status).toBe(403);
    const preflight = await fetch(`${srv.url}runs`, {
      method: "OPTIONS",
      headers: {
        origin: "https://attacker.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    expect(srv.runs.list()).toHaveLength(0);
  });

  test("a foreign Origin on the WebSocket upgrade and a foreign Host (DNS rebinding) are 403s", async () => {
    const upgrade = {
      upgrade: "websocket",
      connection: "upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    };
    const ws = await fetch(`${srv.url}ws`, {
      headers: { ...upgrade, origin: "https://attacker.example" },
    });
    expect(ws.status).toBe(403);
    const own = new URL(srv.url).origin;
    const ok = await new Promise<boolean>((done) => {
      const sock = new WebSocket(`${srv.url.replace("http", "ws")}ws`, {
        headers: { origin: own },
      } as never);
      sock.onopen = () => {
        sock.close();
        done(true);
      };
      sock.onerror = () => done(false);
    });
    expect(ok).toBe(true);
    const rebound = await fetch(`${srv.url}state`, { headers: { host: "attacker.example" } });
    expect(rebound.status).toBe(403);
  });

  test("every response carries CSP with frame-ancestors, nosniff; none names a path or the PID", async () => {
    for (const p of ["", "state", "scenarios", "health", "runs/9", "assets/app.js", "nope"]) {
      const res = await fetch(`${srv.url}${p}`);
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      const text = await res.text();
      expect(text).not.toContain(process.cwd());
      expect(text).not.toMatch(new RegExp(`\\bpid\\W+${process.pid}\\b`, "i"));
    }
    const bad = await post({ scenario: "default", set: [`policies.global=${FIXTURE}`] });
    expect(bad.body.error).not.toContain(resolve(import.meta.dir, "../../.."));
  });
});

describe("live security: budgets, checked before a run starts", () => {
  test("too long, too many points, too slow a pace: 413s at once, with nothing started", async () => {
    const t0 = performance.now(); // host clock: the refusal must not do the work
    const long = await post({ scenario: "default", duration: "3000s" });
    expect([long.status, long.body.path]).toEqual([413, "/duration"]);
    expect(long.body.error).toContain("maxDuration");
    const slow = await post({ scenario: "default", duration: "1ms", pace: 1e-9 });
    expect([slow.status, slow.body.path]).toEqual([413, "/pace"]);
    // 10^4 points in a body of a few hundred bytes.
    Bun.gc(true);
    const rss0 = process.memoryUsage().rss;
    const values = JSON.stringify(Array.from({ length: 100 }, (_, i) => i + 1));
    const matrix = `matrix={"seed":${values},"ldc.queueEntries":${values}}`;
    expect(matrix.length).toBeLessThan(1000);
    const wide = await post({ scenario: "default", set: [matrix] });
    expect([wide.status, wide.body.path]).toEqual([413, "/set"]);
    expect(wide.body.error).toContain("maxPoints");
    Bun.gc(true);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * 1024 * 1024);
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(srv.runs.list()).toHaveLength(0);
  });

  test("bad plugin options and an unknown fault domain are 400s before any 202", async () => {
    const cases = [
      'policies.global=["first-fit",{"bogus":1}]',
      'faults=[{"kind":"kill","at":"1ms","domain":"nobody"}]',
      'workloads=[{"plugin":"random-io","guests":"all","device":"nic"}]',
    ];
    for (const set of cases.slice(0, 2)) {
      const r = await post({ scenario: "default", set: [set] });
      expect({ set, status: r.status }).toEqual({ set, status: 400 });
    }
    expect(srv.runs.list()).toHaveLength(0);
  });

  test("the queued budget and maxRuns: the next request is refused, DELETE cancels within 1 s", async () => {
    const s = startLive({ maxQueued: "60ms", maxRuns: 4 });
    try {
      const paced = { scenario: "default", duration: "10ms", pace: 0.001 };
      const first = await fetch(`${s.url}runs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(paced),
      });
      expect(first.status).toBe(202);
      const { id } = (await first.json()) as { id: number };
      // default compares several paths: 50 ms each more would pass 60 ms queued.
      const next = await fetch(`${s.url}runs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...paced, duration: "50ms" }),
      });
      expect(next.status).toBe(413);
      expect(((await next.json()) as { error: string }).error).toContain("maxQueued");
      const t0 = performance.now(); // host clock: cancel latency
      const del = await fetch(`${s.url}runs/${id}`, { method: "DELETE" });
      expect(del.status).toBe(200);
      expect(((await del.json()) as { status: string }).status).toBe("stopped");
      expect(performance.now() - t0).toBeLessThan(1_000);
      const health = (await (await fetch(`${s.url}health`)).json()) as { queuedNs: number };
      expect(health.queuedNs).toBe(0);
    } finally {
      await s.stop();
    }
  }, 30_000);
});

describe("live security: the process", () => {
  const MAIN = resolve(import.meta.dir, "../../../core/cli/main.ts");

  async function serve(...extra: string[]) {
    const proc = Bun.spawn(["bun", MAIN, "default", "--serve", "--port", "0", ...extra], {
      stderr: "pipe",
      stdout: "ignore",
    });
    const reader = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let err = "";
    while (!/serving on (\S+)/.test(err)) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`exited: ${err}`);
      err += value;
    }
    return { proc, url: /serving on (\S+)/.exec(err)![1]! };
  }

  test("SIGINT stops a server within 1 s during a paced run and a long run over HTTP", async () => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const { proc, url } = await serve("--duration", "10ms", "--pace", "1e-7");
      const r = await fetch(`${url}runs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ scenario: "default", duration: "1s" }),
      });
      expect({ status: r.status, body: await r.text() }).toMatchObject({ status: 202 });
      await Bun.sleep(300);
      const t0 = performance.now(); // host clock: shutdown latency
      proc.kill(signal);
      await proc.exited;
      expect({ signal, ms: performance.now() - t0 < 1_000 }).toEqual({ signal, ms: true });
    }
  }, 60_000);

  test("a second server on the same port is refused: exit 2, one line", async () => {
    const port = new URL(srv.url).port;
    const proc = Bun.spawn(["bun", MAIN, "default", "--serve", "--port", port], {
      stderr: "pipe",
      stdout: "ignore",
    });
    const code = await proc.exited;
    const err = await new Response(proc.stderr).text();
    expect(code).toBe(2);
    expect(err.trim().split("\n")).toHaveLength(1);
    expect(err).toContain(`port ${port}`);
  }, 30_000);

  test("the command line refuses prototype keys in --set too", async () => {
    for (const set of ["__proto__.polluted=1", "cost.constructor.prototype.x=1"]) {
      const proc = Bun.spawn(["bun", MAIN, "default", "--set", set], {
        stderr: "pipe",
        stdout: "ignore",
      });
      expect({ set, code: await proc.exited }).toEqual({ set, code: 2 });
      expect(await new Response(proc.stderr).text()).toContain("prototype");
    }
  }, 30_000);

  test("a token shorter than 16 characters is refused", async () => {
    const proc = Bun.spawn(["bun", MAIN, "default", "--serve", "--port", "0", "--token", "short"], {
      stderr: "pipe",
      stdout: "ignore",
    });
    expect(await proc.exited).toBe(2);
    expect(await new Response(proc.stderr).text()).toMatch(/token/);
  }, 30_000);
});
