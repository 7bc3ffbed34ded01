/** Request guards shared by every endpoint: the token, and size limits on query and body. */

import { createHash, timingSafeEqual } from "node:crypto";
import { homedir, tmpdir } from "node:os";
import { basename, resolve } from "node:path";

/** The repository root (two levels above this plugin). */
const REPO_ROOT = resolve(import.meta.dir, "..", "..");

/** Longest query string accepted (filters and a token need far less). */
export const MAX_QUERY_BYTES = 4096;

export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** True if the request carries `token` as a Bearer header or `?token=` (compared in constant time). */
export function hasToken(request: Request, url: URL, token: string): boolean {
  const auth = request.headers.get("authorization");
  const given = auth?.startsWith("Bearer ") ? auth.slice(7) : url.searchParams.get("token");
  return given !== null && timingSafeEqual(digest(given), digest(token));
}

/** The body as text, or undefined when it is longer than `max` bytes (read no further than that). */
export async function readBody(request: Request, max: number): Promise<string | undefined> {
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > max) return undefined;
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel();
        return undefined;
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * Headers on every response: scripts, styles and connections from this origin only, no framing
 * (clickjacking), no content sniffing, no referrer.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
};

/** The Host values the server answers to: the bound address (and localhost names for loopback). */
export function allowedHosts(host: string, port: number, loopback: boolean, extra: string[]) {
  const hosts = new Set([`${host}:${port}`.toLowerCase()]);
  if (host.includes(":") && !host.startsWith("[")) hosts.add(`[${host}]:${port}`.toLowerCase());
  if (loopback) for (const h of ["localhost", "127.0.0.1", "[::1]"]) hosts.add(`${h}:${port}`);
  for (const o of extra) {
    try {
      hosts.add(new URL(o).host.toLowerCase());
    } catch {
      // Checked when the options were parsed.
    }
  }
  return hosts;
}

/**
 * Why a request is refused for where it comes from, or undefined when it may proceed: its Host
 * must be one the server answers to (DNS rebinding), and an Origin, when sent, must be the
 * server's own or an allowed one (cross-site pages, WebSocket hijacking).
 */
export function originProblem(
  request: Request,
  hosts: ReadonlySet<string>,
  origins: ReadonlySet<string>,
): string | undefined {
  // A request handed to the app directly (no socket) has its host only in the URL.
  const host = (request.headers.get("host") ?? new URL(request.url).host).toLowerCase();
  if (!hosts.has(host)) return "Host is not an address this server answers to";
  const origin = request.headers.get("origin");
  if (origin === null) return undefined;
  if (origins.has(origin.toLowerCase())) return undefined;
  let own: string | undefined;
  try {
    const u = new URL(origin);
    own = u.protocol === "http:" || u.protocol === "https:" ? u.host.toLowerCase() : undefined;
  } catch {
    own = undefined;
  }
  return own !== undefined && hosts.has(own) ? undefined : "Origin is not allowed";
}

/** Directories whose names would tell a client about this machine. */
const PRIVATE_DIRS = [REPO_ROOT, process.cwd(), tmpdir(), homedir()]
  .filter((d) => d.length > 1)
  .sort((a, b) => b.length - a.length);

/**
 * Absolute file paths and the process id, stripped from text a client will see (error messages
 * may quote a file or a stack). JSON-pointer paths such as /machine/domains/1 are kept.
 */
export function redact(text: string): string {
  let out = text;
  for (const d of PRIVATE_DIRS) out = out.replaceAll(d, "<dir>");
  return out
    .replace(
      /(?:file:\/\/)?(?:\/[\w.@+-]+)+\.(?:[cm]?[jt]sx?|json|node)\b/g,
      (m) => `<${basename(m)}>`,
    )
    .replace(/\bpid\b[ :=#]*\d+/gi, "pid <pid>");
}
