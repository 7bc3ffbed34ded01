/**
 * Validation of user input against TypeBox schemas: plugin options, machine descriptions,
 * scenario files, `--set key=value` overrides. One pipeline, one error format.
 *
 * Pipeline (TypeBox's `Value.Parse` order, ts-ecosystem.md §3): clone → defaults → convert
 * ("8" → 8 where a number is expected, so CLI strings work; a lossy conversion such as 1.9 → 1
 * or true → 1 is undone, so the check refuses the value) → check with the compiled schema
 * → clean (drop keys an open object does not declare) → decode (transforms, if any).
 * A strict object (`additionalProperties: false`) reports unknown keys instead of dropping
 * them, which catches typos; prefer it for anything a user types.
 *
 * Failure → `InputError` listing up to 5 problems, one per line:
 *   `<where><json-pointer>: <what is wrong> (got <value>; allowed: <from the schema>)`
 *   e.g. `plugin "first-fit" option /align: Expected integer (got "x"; allowed: integer ≥ 1)`
 */

import { Kind, type StaticDecode, type TSchema } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";
import { type ValueError, ValueErrorType } from "@sinclair/typebox/errors";
import { Value } from "@sinclair/typebox/value";
import { describeThrown, InputError, type Problem } from "./errors.ts";

/** How many problems an error message shows; `InputError.problems` keeps more. */
export const MAX_SHOWN_PROBLEMS = 5;
/** How many problems are collected at most (a huge bad array would otherwise list them all). */
const MAX_COLLECTED_PROBLEMS = 50;

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

/** The compiled checker for `schema`; compiled once per schema object and cached. */
export function compileOptions<T extends TSchema>(schema: T): TypeCheck<T> {
  let check = compiled.get(schema);
  if (check === undefined) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check as TypeCheck<T>;
}

/**
 * Applies defaults and conversions to `value`, checks it against `schema` and returns the
 * result typed as `StaticDecode<T>` (= `Static<T>` unless the schema has transforms).
 * Never mutates `value`. `where` prefixes each problem, e.g. `plugin "first-fit" option `
 * or `machine description `. `undefined` counts as `{}` when the
 * schema is an object, so a plugin whose options all have defaults needs no options at all.
 * @throws InputError listing the problems.
 */
export function parseWithSchema<T extends TSchema>(
  schema: T,
  value: unknown,
  where: string,
): StaticDecode<T> {
  const check = compileOptions(schema);
  let v: unknown = value === undefined && schema[Kind] === "Object" ? {} : Value.Clone(value);
  v = Value.Default(schema, v);
  v = keepLossless(v, Value.Convert(schema, Value.Clone(v)));
  if (!check.Check(v)) {
    const problems = schemaProblems(schema, v);
    throw new InputError(formatProblems(where, problems), problems);
  }
  v = Value.Clean(schema, v);
  try {
    return check.Decode(v) as StaticDecode<T>;
  } catch (e) {
    const problems: Problem[] = [{ path: "", message: describeThrown(e), value: v }];
    throw new InputError(formatProblems(where, problems), problems, { cause: e });
  }
}

/**
 * `converted` with every lossy conversion undone: TypeBox's Convert truncates 1.9 to an integer
 * 1 and turns true into 1. A conversion stays only when it reads back as what was written
 * ("8" → 8, "true" → true, 8 → "8").
 */
function keepLossless(before: unknown, converted: unknown): unknown {
  if (before === converted) return converted;
  if (typeof before === "object" && before !== null) {
    if (typeof converted !== "object" || converted === null) return before;
    const out = (Array.isArray(converted) ? [...converted] : { ...converted }) as Record<
      string,
      unknown
    >;
    for (const k of Object.keys(out))
      out[k] = keepLossless((before as Record<string, unknown>)[k], out[k]);
    return out;
  }
  const written = typeof before === "string" ? before : undefined;
  const lossless =
    (written !== undefined && written.trim() !== "" && String(converted) === written) ||
    (typeof converted === "string" && typeof before !== "object" && converted === String(before));
  return lossless ? converted : before;
}

/** A problem as reported by `schemaProblems`: what is wrong and what the schema allows. */
export interface SchemaProblem extends Problem {
  /** What the schema at `path` accepts, in words ("integer ≥ 1 — pages per guest"). */
  allowed: string;
}

/**
 * Every problem (up to 50) of `value` against `schema`, one per JSON-pointer path, with
 * TypeBox's terse messages made readable. Empty when the value is valid. Applies no defaults.
 */
export function schemaProblems(schema: TSchema, value: unknown): SchemaProblem[] {
  const check = compileOptions(schema);
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  for (const e of check.Errors(value)) {
    // TypeBox reports a missing property twice (required, then the property's own type).
    if (seen.has(e.path)) continue;
    seen.add(e.path);
    // An object that names its union member (`"kind": "kill"`) gets that member's problems.
    const member = e.type === ValueErrorType.Union ? namedMember(e.schema, e.value) : undefined;
    if (member === undefined) out.push(toProblem(e));
    else for (const p of schemaProblems(member, e.value)) out.push({ ...p, path: e.path + p.path });
    if (out.length >= MAX_COLLECTED_PROBLEMS) break;
  }
  return out.slice(0, MAX_COLLECTED_PROBLEMS);
}

/** The one member of a union of objects whose literal fields (`kind`) all match `value`'s. */
function namedMember(union: TSchema, value: unknown): TSchema | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const named = ((union as { anyOf?: TSchema[] }).anyOf ?? []).filter((m) => {
    const literals = Object.entries(
      (m as { properties?: Record<string, { const?: unknown }> }).properties ?? {},
    ).filter(([, p]) => p.const !== undefined);
    return literals.length > 0 && literals.every(([k, p]) => v[k] === p.const);
  });
  return named.length === 1 ? named[0] : undefined;
}

function toProblem(e: ValueError): SchemaProblem {
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return {
        path: e.path,
        message: "Missing required property",
        value: e.value,
        allowed: describeSchema(e.schema),
      };
    case ValueErrorType.ObjectAdditionalProperties: {
      // e.schema is the enclosing object; say which keys it knows, and the nearest one.
      const key = lastSegment(e.path);
      const known = Object.keys(
        (e.schema as { properties?: Record<string, unknown> }).properties ?? {},
      );
      const near = closest(key, known);
      return {
        path: e.path,
        message:
          near === undefined ? "Unknown property" : `Unknown property (did you mean "${near}"?)`,
        value: e.value,
        allowed: known.length === 0 ? "no properties" : `properties ${known.join(", ")}`,
      };
    }
    case ValueErrorType.Union: {
      // A typo of one of the allowed strings gets a suggestion.
      const words = ((e.schema as { anyOf?: { const?: unknown }[] }).anyOf ?? [])
        .map((a) => a.const)
        .filter((c): c is string => typeof c === "string");
      const near = typeof e.value === "string" ? closest(e.value, words) : undefined;
      return {
        path: e.path,
        message:
          near === undefined
            ? "Expected one of the allowed values"
            : `Expected one of the allowed values (did you mean "${near}"?)`,
        value: e.value,
        allowed: describeSchema(e.schema),
      };
    }
    default:
      return {
        path: e.path,
        message:
          e.type === ValueErrorType.StringPattern && typeof e.schema.description === "string"
            ? "Not in the described form"
            : e.message,
        value: e.value,
        allowed: describeSchema(e.schema),
      };
  }
}

/** One line per problem (at most `max`), then "… and N more problems". */
export function formatProblems(
  where: string,
  problems: readonly Problem[],
  max: number = MAX_SHOWN_PROBLEMS,
): string {
  if (problems.length === 0) return `${where.trimEnd()}: invalid`;
  const lines = problems.slice(0, max).map((p) => formatProblem(where, p));
  if (problems.length > max) {
    const more = problems.length - max;
    lines.push(`… and ${more} more problem${more === 1 ? "" : "s"}`);
  }
  return lines.join("\n");
}

/** `<where><path>: <message> (got <value>; allowed: <allowed>)`; the root path prints as "/". */
export function formatProblem(where: string, p: Problem & { allowed?: string }): string {
  const allowed = p.allowed === undefined ? "" : `; allowed: ${p.allowed}`;
  return `${where}${p.path === "" ? "/" : p.path}: ${p.message} (got ${formatValue(p.value)}${allowed})`;
}

/** A short, unambiguous rendering of any value for messages (JSON where possible, ≤ 60 chars). */
export function formatValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "number")
    return Number.isNaN(v) || !Number.isFinite(v) ? String(v) : JSON.stringify(v);
  if (typeof v === "function") return "a function";
  if (typeof v === "symbol") return v.toString();
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Object.prototype.toString.call(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * What a schema accepts, in words: type, bounds, enum/literal values, pattern, and (at the top
 * level) its description and default. E.g. `integer ≥ 1`, `"shared" or "per-device"`.
 */
export function describeSchema(schema: TSchema, depth = 0): string {
  const s = schema as TSchema & Record<string, unknown>;
  let d: string;
  switch (s[Kind]) {
    case "Integer":
    case "Number":
    case "BigInt":
      d = String(s[Kind]).toLowerCase() + numberBounds(s);
      break;
    case "String":
      d = `string${lengthBounds(s, "characters", "minLength", "maxLength")}`;
      // A described pattern is shown by its description (a long pattern reads worse).
      if (typeof s.pattern === "string" && !(depth === 0 && typeof s.description === "string"))
        d += ` matching /${s.pattern}/`;
      if (typeof s.format === "string") d += ` (format ${s.format})`;
      break;
    case "Boolean":
      d = "true or false";
      break;
    case "Literal":
      d = JSON.stringify(s.const);
      break;
    case "Null":
      d = "null";
      break;
    case "Undefined":
    case "Void":
      d = "nothing";
      break;
    case "Any":
    case "Unknown":
      d = "any value";
      break;
    case "Never":
      d = "no value";
      break;
    case "Union": {
      const alts = (s.anyOf as TSchema[]).map((a) => describeSchema(a, depth + 1));
      d =
        alts.length > 8
          ? `${alts.slice(0, 8).join(" or ")} or … (${alts.length} choices)`
          : alts.join(" or ");
      break;
    }
    case "Object": {
      const props = Object.keys((s.properties as Record<string, unknown>) ?? {});
      const required = new Set((s.required as string[] | undefined) ?? []);
      d =
        depth > 0 || props.length === 0
          ? "object"
          : `object with ${props.map((p) => (required.has(p) ? p : `${p}?`)).join(", ")}`;
      break;
    }
    case "Record":
      d = "object (map)";
      break;
    case "Array":
      d = `array of ${describeSchema(s.items as TSchema, depth + 1)}${lengthBounds(s, "items", "minItems", "maxItems")}`;
      if (s.uniqueItems === true) d += ", unique";
      break;
    case "Tuple":
      d = `[${((s.items as TSchema[] | undefined) ?? []).map((a) => describeSchema(a, depth + 1)).join(", ")}]`;
      break;
    case "Ref":
      d = `see ${String(s.$ref)}`;
      break;
    default:
      d = typeof s[Kind] === "string" ? String(s[Kind]).toLowerCase() : "a valid value";
  }
  if (depth === 0) {
    if (typeof s.description === "string" && s.description !== "") d += ` — ${s.description}`;
    if ("default" in s && typeof s.default !== "object")
      d += ` (default ${JSON.stringify(s.default)})`;
  }
  return d;
}

function numberBounds(s: Record<string, unknown>): string {
  const parts: string[] = [];
  const min = s.minimum;
  const max = s.maximum;
  if (typeof min === "number" && typeof max === "number") parts.push(`from ${min} to ${max}`);
  else {
    if (min !== undefined) parts.push(`≥ ${String(min)}`);
    if (max !== undefined) parts.push(`≤ ${String(max)}`);
  }
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${String(s.exclusiveMinimum)}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${String(s.exclusiveMaximum)}`);
  if (s.multipleOf !== undefined) parts.push(`multiple of ${String(s.multipleOf)}`);
  return parts.length === 0 ? "" : ` ${parts.join(", ")}`;
}

function lengthBounds(
  s: Record<string, unknown>,
  unit: string,
  minKey: string,
  maxKey: string,
): string {
  const min = s[minKey];
  const max = s[maxKey];
  if (typeof min === "number" && typeof max === "number") {
    return min === max ? ` of exactly ${min} ${unit}` : ` of ${min} to ${max} ${unit}`;
  }
  if (typeof min === "number") return ` of at least ${min} ${unit}`;
  if (typeof max === "number") return ` of at most ${max} ${unit}`;
  return "";
}

function lastSegment(pointer: string): string {
  const i = pointer.lastIndexOf("/");
  return pointer
    .slice(i + 1)
    .replace(/~1/g, "/")
    .replace(/~0/g, "~");
}

/**
 * The candidate nearest to `word` if it is plausibly what was meant: a few edits away (1 for
 * short words, up to 3 for long ones), or a prefix of it (≥ 3 characters: `maxPages` →
 * `maxPagesPerGuest`). Undefined otherwise.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const limit = w.length <= 4 ? 1 : w.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestD = limit + 1;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase(), limit);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best !== undefined || w.length < 3) return best;
  return candidates.find((c) => c.toLowerCase().startsWith(w));
}

function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
