/**
 * Finds plugins by built-in name (`first-fit`) or by file path (`./my-policy.ts`).
 *
 * Built-ins live under `plugins/` at the repo root and are found by scanning the folder, then
 * imported dynamically: the core never imports `plugins/` statically (a rule of the house).
 * A file is found for name `x` when it is `**\/x.ts` or `**\/x/index.ts` (for a scoped name
 * `acme/x`: `**\/acme/x.ts`); failing that, every built-in is imported and matched on the
 * `name` it declares.
 */

import { basename, isAbsolute, relative, resolve, sep } from "node:path";
import { describeThrown, InputError, importFailure } from "../../input/errors.ts";
import { closest } from "../../input/validate.ts";
import { type AnyPlugin, isPlugin, type PluginKind } from "./define.ts";

/** The repository root (three levels above core/harness/plugin). */
export const REPO_ROOT = resolve(import.meta.dir, "..", "..", "..");
/** Where built-in plugins live. */
export const BUILTIN_PLUGIN_DIR = resolve(REPO_ROOT, "plugins");

export interface LoadPluginOptions {
  /** Directory a relative path is resolved against (usually `process.cwd()`). */
  cwd: string;
  /** Where built-ins are looked for (default `BUILTIN_PLUGIN_DIR`; tests point it elsewhere). */
  builtinDir?: string;
}

export interface BuiltinPluginInfo {
  name: string;
  kind: PluginKind;
  version: string;
  description: string;
  /** Absolute path of the file. */
  path: string;
}

/** True when `spec` names a file rather than a built-in: starts with `.` or `/`, or ends in .ts/.js. */
export function isPluginPath(spec: string): boolean {
  return spec.startsWith(".") || isAbsolute(spec) || /\.(?:[cm]?[jt]s|tsx|jsx)$/.test(spec);
}

/**
 * Loads the plugin `spec` names: a file path (its default export, or its single plugin export)
 * or the name of a built-in.
 * @throws InputError when nothing loads, or what loads is not a plugin.
 */
export async function loadPlugin(spec: string, options: LoadPluginOptions): Promise<AnyPlugin> {
  if (typeof spec !== "string" || spec.trim() === "")
    throw new InputError("plugin: expected a name or a file path");
  if (isPluginPath(spec)) return loadPluginFile(resolve(options.cwd, spec), spec);
  return loadBuiltin(spec, options.builtinDir ?? BUILTIN_PLUGIN_DIR);
}

/** Every built-in plugin, sorted by name (files that are not plugins, or fail to load, are skipped). */
export async function listBuiltinPlugins(
  options: { builtinDir?: string } = {},
): Promise<BuiltinPluginInfo[]> {
  const dir = options.builtinDir ?? BUILTIN_PLUGIN_DIR;
  const out: BuiltinPluginInfo[] = [];
  for (const path of await builtinFiles(dir)) {
    const plugin = await tryImportPlugin(path);
    if (plugin === undefined) continue;
    out.push({
      name: plugin.name,
      kind: plugin.kind,
      version: plugin.version,
      description: plugin.description ?? "",
      path,
    });
  }
  return out.sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : a.path < b.path ? -1 : 1,
  );
}

async function loadPluginFile(path: string, spec: string): Promise<AnyPlugin> {
  if (!(await Bun.file(path).exists())) {
    throw new InputError(`plugin file ${JSON.stringify(spec)} not found (looked at ${path})`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = await import(path);
  } catch (e) {
    throw new InputError(
      `plugin file ${JSON.stringify(spec)} failed to load: ${importFailure(path, e)}`,
      [],
      { cause: e },
    );
  }
  return pickPlugin(mod, spec);
}

/** The module's default export if it is a plugin, else its only plugin export. */
function pickPlugin(mod: Record<string, unknown>, spec: string): AnyPlugin {
  const chosen = choosePlugin(mod);
  if (chosen !== undefined) return chosen;
  const named = namedPlugins(mod);
  if (named.length > 1) {
    throw new InputError(
      `plugin file ${JSON.stringify(spec)} exports ${named.length} plugins (${named.join(", ")}); ` +
        "export one as the default export",
    );
  }
  const keys = Object.keys(mod).sort((a, b) => (a === "default" ? -1 : b === "default" ? 1 : 0));
  const found = keys.map((k) => `${k === "default" ? "default export" : k}: ${kindOf(mod[k])}`);
  throw new InputError(
    `plugin file ${JSON.stringify(spec)} does not export a plugin ` +
      `(found ${found.length === 0 ? "no exports" : found.join(", ")}); ` +
      "make the default export `definePlugin({ name, kind, version, setup })`",
  );
}

/** The default export if it is a plugin, else the only plugin among the named exports. */
function choosePlugin(mod: Record<string, unknown>): AnyPlugin | undefined {
  if (isPlugin(mod.default)) return mod.default;
  const named = namedPlugins(mod);
  return named.length === 1 ? (mod[named[0]] as AnyPlugin) : undefined;
}

function namedPlugins(mod: Record<string, unknown>): string[] {
  return Object.keys(mod).filter((k) => k !== "default" && isPlugin(mod[k]));
}

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "function") return "function";
  if (typeof v === "object") {
    const keys = Object.keys(v as object);
    return keys.length === 0
      ? "object"
      : `object {${keys.slice(0, 5).join(", ")}${keys.length > 5 ? ", ..." : ""}}`;
  }
  return typeof v;
}

async function loadBuiltin(name: string, dir: string): Promise<AnyPlugin> {
  const files = await builtinFiles(dir);
  const suffixes = [
    `${sep}${name.split("/").join(sep)}.ts`,
    `${sep}${name.split("/").join(sep)}${sep}index.ts`,
  ];
  const candidates = files.filter((f) => suffixes.some((s) => f.endsWith(s)));
  for (const path of candidates) {
    let mod: Record<string, unknown>;
    try {
      mod = await import(path);
    } catch (e) {
      throw new InputError(
        `built-in plugin "${name}" (${relative(REPO_ROOT, path)}) failed to load: ${describeThrown(e)}`,
        [],
        {
          cause: e,
        },
      );
    }
    const plugin = choosePlugin(mod);
    if (plugin?.name === name) return plugin;
  }
  // The file may be named differently from the plugin: match on declared names.
  const known = await listBuiltinPlugins({ builtinDir: dir });
  const hit = known.find((p) => p.name === name);
  if (hit !== undefined) {
    const plugin = await tryImportPlugin(hit.path);
    if (plugin !== undefined) return plugin;
  }
  const names = [...new Set(known.map((p) => p.name))].sort();
  const near = closest(name, names);
  throw new InputError(
    `unknown plugin "${name}"${near === undefined ? "" : ` (did you mean "${near}"?)`}; ` +
      `built-in plugins: ${names.length === 0 ? "(none)" : names.join(", ")}; ` +
      "or give a file path such as ./my-plugin.ts",
  );
}

async function tryImportPlugin(path: string): Promise<AnyPlugin | undefined> {
  try {
    return choosePlugin(await import(path));
  } catch {
    return undefined;
  }
}

/** Absolute paths of the .ts files under `dir` (tests and declarations excluded), sorted. */
async function builtinFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const rel of new Bun.Glob("**/*.ts").scan({ cwd: dir, onlyFiles: true })) {
      const file = basename(rel);
      if (file.endsWith(".d.ts") || /\.(test|spec)\.ts$/.test(file)) continue;
      out.push(resolve(dir, rel));
    }
  } catch {
    return [];
  }
  return out.sort();
}
