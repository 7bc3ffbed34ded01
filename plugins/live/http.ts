/** Request guards shared by every endpoint: the token, and size limits on query and body. */

import { createHash, timingSafeEqual } from "node:crypto";

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
