import { resolve } from "node:path";
import { InputError, importFailure } from "../../input/errors.ts";
import { closest, parseWithSchema } from "../../input/validate.ts";
import type { AnyPlugin } from "../plugin/define.ts";
import { isPluginPath, loadPlugin, REPO_ROOT } from "../plugin/loader.ts";
import { machineOf, type PluginRef, type Scenario, ScenarioSchema } from "./define.ts";
import { refName, refOptions } from "./runner.ts";

export const SCENARIO_DIR = resolve(REPO_ROOT, "scenarios");

/** Names of the built-in scenarios (files in scenarios/), sorted. */
export async function listScenarios(): Promise<string[]> {
  const names: string[] = [];
  for await (const f of new Bun.Glob("*.ts").scan({ cwd: SCENARIO_DIR }))
    names.push(f.replace(/\.ts$/, ""));
  return names.sort();
}

/** The raw scenario object of a built-in name or a file path. @throws InputError */
export async function loadScenarioFile(spec: string, cwd: string): Promise<unknown> {
  const isPath =
    spec.startsWith(".") || spec.startsWith("/") || spec.endsWith(".ts") || spec.endsWith(".js");
  let file: string;
  if (isPath) file = resolve(cwd, spec);
  else {
    const known = await listScenarios();
    if (!known.includes(spec)) {
      const near = closest(spec, known);
      throw new InputError(
        `unknown scenario "${spec}"${near ? ` (did you mean "${near}"?)` : ""}; built-in scenarios: ${known.join(", ")}`,
      );
    }
    file = resolve(SCENARIO_DIR, `${spec}.ts`);
  }
  if (!(await Bun.file(file).exists())) throw new InputError(`scenario file ${file} not found`);
  let mod: Record<string, unknown>;
  try {
    mod = await import(file);
  } catch (e) {
    throw new InputError(`cannot load scenario file ${file}: ${importFailure(file, e)}`, [], {
      cause: e,
    });
  }
  if (typeof mod.default !== "object" || mod.default === null) {
    const found =
      mod.default === undefined
        ? "has no default export"
        : `exports a ${mod.default === null ? "null" : typeof mod.default} by default`;
    throw new InputError(
      `scenario file ${file} ${found}; make it \`export default defineScenario({...})\``,
    );
  }
  return mod.default;
}

/** Keys that reach an object's prototype: never accepted in a `--set` path or value. */
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

function checkKey(key: string, where: string): void {
  if (FORBIDDEN_KEYS.has(key))
    throw new InputError(`${where}: "${key}" is not allowed as a key (it would reach a prototype)`);
}

/**
 * Parses a `--set` value: JSON when it parses (numbers, booleans, arrays), else the raw string.
 * Objects in it get null prototypes, and prototype keys are refused.
 */
function parseValue(text: string, where: string): unknown {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return text;
  }
  return nullProto(v, where);
}

/** A copy of a JSON value whose objects have null prototypes. @throws InputError on a prototype key */
function nullProto(v: unknown, where: string): unknown {
  if (Array.isArray(v)) return v.map((x) => nullProto(x, where));
  if (typeof v !== "object" || v === null) return v;
  const out = Object.create(null) as Record<string, unknown>;
  for (const [k, x] of Object.entries(v)) {
    checkKey(k, where);
    out[k] = nullProto(x, where);
  }
  return out;
}

/** Sets a dotted path (`cost.ldcLatencyNs`, `machine.domains.1.memoryMiB`) in a copy of `obj`. */
export function setPath(obj: unknown, path: string, value: unknown): unknown {
  const keys = path.split(".");
  if (keys.some((k) => k === ""))
    throw new InputError(`--set ${path}: empty key in the dotted path`);
  for (const k of keys) checkKey(k, `--set ${path}`);
  const root = structuredClone(obj) as Record<string, unknown>;
  let at: Record<string, unknown> = root;
  keys.forEach((k, i) => {
    // In a list only an index counts (a name would be dropped unseen; a gap leaves holes).
    if (Array.isArray(at) && !(/^(0|[1-9][0-9]*)$/.test(k) && Number(k) <= at.length))
      throw new InputError(
        `--set ${path}: ${keys.slice(0, i).join(".")} is a list of ${at.length}, so "${k}" must be an index from 0 to ${at.length} (${at.length} adds one)`,
      );
    if (i === keys.length - 1) {
      at[k] = value;
      return;
    }
    const next = Object.hasOwn(at, k) ? at[k] : undefined;
    if (typeof next !== "object" || next === null) at[k] = Object.create(null);
    at = at[k] as Record<string, unknown>;
  });
  return root;
}

/** Applies `key=value` overrides. @throws InputError for a malformed one */
export function applySets(raw: unknown, sets: readonly string[]): unknown {
  let out = raw;
  for (const s of sets) {
    const key = setKey(s);
    out = setPath(out, key, parseValue(s.slice(key.length + 1), `--set ${key}`));
  }
  return out;
}

/** The key a `--set key=value` sets. @throws InputError when there is no `=` after a key */
export function setKey(s: string): string {
  const eq = s.indexOf("=");
  if (eq <= 0)
    throw new InputError(
      `--set ${JSON.stringify(s)}: expected key=value, e.g. --set cost.ldcLatencyNs=3000`,
    );
  return s.slice(0, eq);
}

/** Validates a raw scenario: schema (defaults applied), then the machine's own rules. @throws InputError */
export function parseScenario(raw: unknown): Scenario {
  const scn = parseWithSchema(ScenarioSchema, raw, "scenario ");
  machineOf(scn);
  return scn;
}

/**
 * Every plugin a scenario names, loaded once; `--plugin` files first so their names resolve to
 * them. With `namesOnly`, a plugin named by a path that is not one of `extraFiles` is refused.
 */
export async function loadScenarioPlugins(
  scn: Scenario,
  cwd: string,
  extraFiles: readonly string[] = [],
  namesOnly = false,
): Promise<Map<string, AnyPlugin>> {
  const table = new Map<string, AnyPlugin>();
  for (const f of extraFiles) {
    const p = await loadPlugin(f, { cwd });
    table.set(p.name, p);
    table.set(f, p);
  }
  for (const use of pluginUses(scn)) {
    if (table.has(use.name)) continue;
    if (namesOnly && isPluginPath(use.name))
      throw new InputError(
        `plugin ${JSON.stringify(use.name)} is named by path; name it by its registered name`,
      );
    table.set(use.name, await loadPlugin(use.name, { cwd }));
  }
  return table;
}

/** A plugin a scenario names, and the scenario field that names it (`policies.global`, `paths.0`). */
export interface PluginUse {
  field: string;
  name: string;
  /** The options the scenario gives it (undefined when it names the plugin alone). */
  options: unknown;
}

/** Every plugin use of every matrix point (a sweep may name other plugins, e.g. over workloads). */
export function pluginUses(scn: Scenario): PluginUse[] {
  return expandMatrix(scn, scn).flatMap((p) => pointUses(p.scenario));
}

/** The plugins one (matrix-free) scenario uses. */
function pointUses(scn: Scenario): PluginUse[] {
  const md = machineOf(scn);
  const use = (field: string, ref: PluginRef): PluginUse => ({
    field,
    name: refName(ref),
    options: refOptions(ref),
  });
  return [
    use("policies.global", scn.policies.global),
    use("policies.local", scn.policies.local),
    ...scn.paths.map((r, i) => use(`paths.${i}`, r)),
    ...scn.workloads.map((w, i) => use(`workloads.${i}.plugin`, w.plugin)),
    ...[...new Set(md.devices.map((d) => d.kind))].map((k) =>
      use(`devices.${k}`, scn.devices[k] ?? k),
    ),
  ];
}

export interface MatrixPoint {
  params: Record<string, unknown>;
  scenario: Scenario;
}

/** Every combination of the matrix (first key varies slowest), each a validated scenario. */
export function expandMatrix(raw: unknown, scn: Scenario): MatrixPoint[] {
  const keys = Object.keys(scn.matrix);
  let combos: Record<string, unknown>[] = [{}];
  for (const k of keys)
    combos = combos.flatMap((c) => scn.matrix[k]!.map((v) => ({ ...c, [k]: v })));
  return combos.map((params) => ({ params, scenario: pointScenario(raw, params) }));
}

/** The scenario of one matrix point: `raw` with the point's values set, parsed. @throws InputError */
export function pointScenario(raw: unknown, params: Record<string, unknown>): Scenario {
  let r = raw;
  for (const [k, v] of Object.entries(params)) r = setPath(r, k, v);
  try {
    return parseScenario(r);
  } catch (e) {
    if (e instanceof InputError)
      throw new InputError(`matrix point ${JSON.stringify(params)}:\n${e.message}`, e.problems);
    throw e;
  }
}
