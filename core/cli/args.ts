/**
 * Strict parsing of a command's citty `args`: citty itself ignores unknown flags, takes a flag
 * with no value as "", and reads `--json=yes` as true. Here each of those is an input error,
 * and `--no-x` / `--x=false` turn a boolean off. A flag marked `repeat` collects every value.
 */

import type { ArgDef, ArgsDef } from "citty";
import { InputError } from "../input/errors.ts";

/** A citty arg, optionally repeatable (`--set a=1 --set b=2`). */
export type CliArgDef = ArgDef & { repeat?: true };
export type CliArgsDef = Record<string, CliArgDef>;

type Value<D> = D extends { repeat: true }
  ? string[]
  : D extends { type: "boolean" }
    ? boolean | undefined
    : string | undefined;

/** What `parseStrict` returns: one field per arg, typed by its definition. */
export type StrictArgs<A extends CliArgsDef> = { -readonly [K in keyof A]: Value<A[K]> };

/** Parses `argv` against `defs`. @throws InputError naming the flag and what is allowed */
export function parseStrict<A extends CliArgsDef>(defs: A, argv: readonly string[]): StrictArgs<A> {
  const out: Record<string, unknown> = {};
  for (const [name, d] of Object.entries(defs)) if (d.repeat) out[name] = [];
  const flags = Object.keys(defs).filter((k) => defs[k]!.type !== "positional");
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!tok.startsWith("--")) {
      if (tok.startsWith("-") && tok.length > 1 && !/^-\d/.test(tok))
        throw new InputError(
          `unknown flag ${tok}; allowed: ${flags.map((f) => `--${f}`).join(", ")}`,
        );
      positionals.push(tok);
      continue;
    }
    const eq = tok.indexOf("=");
    let name = tok.slice(2, eq < 0 ? undefined : eq);
    const negated = !(name in defs) && name.startsWith("no-");
    if (negated) name = name.slice(3);
    const d = defs[name];
    if (d === undefined || d.type === "positional")
      throw new InputError(
        `unknown flag --${name}; allowed: ${flags.map((f) => `--${f}`).join(", ")}`,
      );
    if (d.type === "boolean") {
      if (negated && eq >= 0) throw new InputError(`--no-${name} takes no value`);
      out[name] = negated ? false : eq < 0 ? true : booleanValue(name, tok.slice(eq + 1));
      continue;
    }
    if (negated) throw new InputError(`--no-${name}: only on/off flags can be negated`);
    const value = eq >= 0 ? tok.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith("--")))
      throw new InputError(`flag --${name} needs a value`);
    if (d.repeat) (out[name] as string[]).push(value);
    else if (out[name] !== undefined)
      throw new InputError(`flag --${name} given twice (${out[name]}, ${value}); give it once`);
    else out[name] = value;
  }
  const slots = Object.keys(defs).filter((k) => defs[k]!.type === "positional");
  if (positionals.length > slots.length)
    throw new InputError(
      `unexpected argument "${positionals[slots.length]}"${slots.length === 0 ? "" : ` after ${slots.map((s) => s.toUpperCase()).join(" ")}`}`,
    );
  slots.forEach((s, k) => {
    out[s] = positionals[k];
  });
  return out as StrictArgs<A>;
}

function booleanValue(name: string, text: string): boolean {
  if (text === "true") return true;
  if (text === "false") return false;
  throw new InputError(
    `--${name}=${text}: expected --${name}, --no-${name}, --${name}=true or --${name}=false`,
  );
}

/** Colour only for a terminal, and never with NO_COLOR set (no-color.org). */
export function wantsColour(stream: { isTTY?: boolean }): boolean {
  const no = process.env.NO_COLOR;
  return stream.isTTY === true && (no === undefined || no === "");
}

/** `text` without ANSI escape codes unless the stream takes colour. */
export function forStream(text: string, stream: { isTTY?: boolean }): string {
  return wantsColour(stream) ? text : Bun.stripANSI(text);
}

/** Only the args that are flags (for merging a plugin's args into a command's). */
export function flagDefs(defs: ArgsDef): CliArgsDef {
  return Object.fromEntries(Object.entries(defs).filter(([, d]) => d.type !== "positional"));
}
