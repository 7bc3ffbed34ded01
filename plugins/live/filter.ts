/**
 * Which events a client wants: kinds, one domain, 1 in N. Parsed from a query string (SSE and
 * the WebSocket upgrade) or from a WebSocket message; bad input names the field and what is allowed.
 */

import { EVENT_TYPES, type SimEvent } from "../../core/index.ts";

export interface FeedFilter {
  /** Kinds to keep (null = all). */
  types: ReadonlySet<string> | null;
  /** Keep events of this domain only: their `domain`, or either end of an LDC message (null = all). */
  domain: number | null;
  /** Keep 1 in `sample` of the matching events. */
  sample: number;
}

export const ALL_EVENTS: FeedFilter = { types: null, domain: null, sample: 1 };

/** A problem with one field of the input. */
export interface FilterError {
  error: string;
  path: string;
}

const KNOWN = new Set<string>(EVENT_TYPES);
const MAX_SAMPLE = 1_000_000;

export function matches(f: FeedFilter, e: SimEvent): boolean {
  if (f.types !== null && !f.types.has(e.type)) return false;
  if (f.domain === null) return true;
  if ("domain" in e) return e.domain === f.domain;
  if ("from" in e) return e.from === f.domain || e.to === f.domain;
  return false;
}

function parseTypes(v: unknown, fromText: boolean): ReadonlySet<string> | null | FilterError {
  if (v === null && !fromText) return null;
  const list = fromText && typeof v === "string" ? v.split(",").filter((s) => s !== "") : v;
  if (!Array.isArray(list) || list.some((x) => typeof x !== "string"))
    return { error: "types: expected an array of event kinds, or null for all", path: "/types" };
  const unknown = (list as string[]).filter((x) => !KNOWN.has(x));
  if (unknown.length > 0) {
    return {
      error: `types: unknown event kind ${unknown.map((x) => JSON.stringify(x)).join(", ")}; allowed: ${EVENT_TYPES.join(", ")}`,
      path: "/types",
    };
  }
  return list.length === 0 ? null : new Set(list as string[]);
}

function parseIntField(
  name: string,
  v: unknown,
  min: number,
  max: number,
  fromText: boolean,
): number | FilterError {
  const n = fromText && typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max)
    return {
      error: `${name}: expected an integer from ${min} to ${max} (got ${JSON.stringify(v)})`,
      path: `/${name}`,
    };
  return n;
}

export const isFilterError = (x: unknown): x is FilterError =>
  typeof x === "object" && x !== null && "error" in x && "path" in x;

/**
 * A filter from `input`: query parameters (strings; `types` comma-separated) or a WebSocket
 * message (`types` an array or null, `domain` an integer or null). Missing fields keep `base`'s.
 * Keys in `ignore` are skipped (the token); any other unknown key is an error, so typos show.
 */
export function parseFilter(
  input: Record<string, unknown>,
  base: FeedFilter,
  fromText: boolean,
  ignore: readonly string[] = [],
): FeedFilter | FilterError {
  const out: FeedFilter = { ...base };
  for (const [key, v] of Object.entries(input)) {
    if (ignore.includes(key)) continue;
    if (key === "types") {
      const t = parseTypes(v, fromText);
      if (isFilterError(t)) return t;
      out.types = t;
    } else if (key === "domain") {
      if (v === null && !fromText) out.domain = null;
      else {
        const d = parseIntField("domain", v, 0, 0x7fff, fromText);
        if (isFilterError(d)) return d;
        out.domain = d;
      }
    } else if (key === "sample") {
      const s = parseIntField("sample", v, 1, MAX_SAMPLE, fromText);
      if (isFilterError(s)) return s;
      out.sample = s;
    } else {
      return { error: `unknown field "${key}"; allowed: types, domain, sample`, path: `/${key}` };
    }
  }
  return out;
}

/** The filter as plain JSON (for acknowledgements and /state). */
export function filterJson(f: FeedFilter): {
  types: string[] | null;
  domain: number | null;
  sample: number;
} {
  return { types: f.types === null ? null : [...f.types], domain: f.domain, sample: f.sample };
}
