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
