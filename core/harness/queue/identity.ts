import { dirname, relative, resolve } from "node:path";
import { describeThrown, InputError } from "../../input/errors.ts";
import { listBuiltinPlugins, loadPlugin, REPO_ROOT } from "../plugin/loader.ts";
import { listScenarios, SCENARIO_DIR } from "../scenario/load.ts";
import type { PluginTable } from "../scenario/runner.ts";
import type { NamedHash, PointJob } from "./job.ts";

/**
 * What a machine can run, by registered name: the built-in scenarios and those of its own
 * `--scenario-dir`s (several files may define one name: a job picks the one with its hash), the
 * built-in plugins and the `--plugin` files of its own command line (which win over a built-in of
 * the same name, as when a scenario loads its plugins). Each name maps to the file(s) defining it.
 */
export interface Catalogue {
  scenarios: Map<string, string[]>;
  plugins: Map<string, string>;
}

export async function catalogue(
  cwd: string,
  pluginFiles: readonly string[],
  scenarioDirs: readonly string[] = [],
): Promise<Catalogue> {
  const scenarios = new Map<string, string[]>();
  const add = (name: string, file: string) =>
    scenarios.set(name, [...(scenarios.get(name) ?? []), file]);
  for (const name of await listScenarios()) add(name, resolve(SCENARIO_DIR, `${name}.ts`));
  for (const d of scenarioDirs)
    for (const [name, file] of await scenariosIn(resolve(cwd, d))) add(name, file);
  const plugins = new Map<string, string>();
  for (const p of await listBuiltinPlugins()) if (!plugins.has(p.name)) plugins.set(p.name, p.path);
  for (const f of pluginFiles) plugins.set((await loadPlugin(f, { cwd })).name, resolve(cwd, f));
  return { scenarios, plugins };
}

/**
 * The scenarios of a `--scenario-dir`: each `*.ts` whose default export is an object with a
 * name (other files there, e.g. helpers, are passed over). @throws InputError
 */
async function scenariosIn(dir: string): Promise<[string, string][]> {
  const out: [string, string][] = [];
  let files: string[];
  try {
    files = (
      await Array.fromAsync(new Bun.Glob("*.ts").scan({ cwd: dir, onlyFiles: true }))
    ).sort();
  } catch (e) {
    throw new InputError(`--scenario-dir ${dir}: cannot read it: ${describeThrown(e)}`);
  }
  for (const f of files) {
    const file = resolve(dir, f);
    let mod: Record<string, unknown>;
    try {
      mod = await import(file);
    } catch (e) {
      throw new InputError(`--scenario-dir: cannot load ${file}: ${describeThrown(e)}`);
    }
    const d = mod.default as { name?: unknown } | null | undefined;
    if (typeof d === "object" && d !== null && typeof d.name === "string") out.push([d.name, file]);
  }
  return out;
}

/** The scenario file a spec's target names: a built-in's, or the path. */
export function scenarioFileOf(target: string, cwd: string, cat: Catalogue): string {
  const isPath = /^[./]|\.[jt]s$/.test(target);
  return isPath ? resolve(cwd, target) : (cat.scenarios.get(target)?.[0] ?? resolve(cwd, target));
}

const CORE_DIR = resolve(REPO_ROOT, "core");
const transpiler = new Bun.Transpiler({ loader: "ts" });
const hashes = new Map<string, string>();

/**
 * A file's local import closure: the file, then what it imports by relative path, recursively
 * (each once, in the order met). The core and packages are not part of it: they are the program
 * both ends run, not the plugin.
 */
export async function importClosure(root: string): Promise<string[]> {
  const seen = new Set<string>([root]);
  const order = [root];
  for (let i = 0; i < order.length; i++) {
    const file = order[i]!;
    const code = await Bun.file(file).text();
    for (const imp of transpiler.scanImports(code)) {
      if (!imp.path.startsWith("./") && !imp.path.startsWith("../")) continue;
      let dep: string;
      try {
        dep = Bun.resolveSync(imp.path, dirname(file));
      } catch {
        continue; // an import that does not resolve fails when the file loads, not here
      }
      if (seen.has(dep) || dep.startsWith(`${CORE_DIR}/`) || dep.includes("/node_modules/"))
        continue;
      seen.add(dep);
      order.push(dep);
    }
  }
  return order;
}

/**
 * SHA-256 over a file's local import closure (hex, first 16 digits: enough to tell versions
 * apart): each file's path relative to the first one's directory and its bytes, so a changed
 * helper changes the hash and the same files elsewhere on disk hash the same.
 */
export async function fileHash(path: string): Promise<string> {
  let h = hashes.get(path);
  if (h === undefined) {
    const hasher = new Bun.CryptoHasher("sha256");
    const base = dirname(path);
    for (const f of await importClosure(path)) {
      hasher.update(`${relative(base, f)}\0`);
      hasher.update(await Bun.file(f).arrayBuffer());
      hasher.update("\0");
    }
    h = hasher.digest("hex").slice(0, 16);
    hashes.set(path, h);
  }
  return h;
}

/** The names and hashes a sweep's jobs carry: its scenario (from `scenarioFile`) and every plugin it loaded. */
export async function sweepIdentity(
  scenarioName: string,
  scenarioFile: string,
  table: PluginTable,
  cat: Catalogue,
): Promise<{ scenario: NamedHash; plugins: NamedHash[] }> {
  const names = [...new Set([...table.values()].map((p) => p.name))].sort();
  const plugins: NamedHash[] = [];
  for (const name of names) {
    const file = cat.plugins.get(name);
    if (file === undefined)
      throw new InputError(
        `--queue: plugin "${name}" is named by path in the scenario; give it with --plugin <file> here and on the workers`,
      );
    plugins.push({ name, hash: await fileHash(file) });
  }
  return { scenario: { name: scenarioName, hash: await fileHash(scenarioFile) }, plugins };
}

/**
 * The file of this machine that runs the job's scenario (its name and hash match), or why this
 * machine cannot run the job (missing or different scenario or plugin). Only names and hashes
 * from the job are used: the file is one of this machine's own.
 */
export async function matchJob(
  job: PointJob,
  cat: Catalogue,
  self: string,
): Promise<{ file: string } | { why: string }> {
  const files = cat.scenarios.get(job.scenario.name) ?? [];
  if (files.length === 0)
    return {
      why: `worker ${self} has no scenario "${job.scenario.name}" (built-in, or in a --scenario-dir it was started with)`,
    };
  const have: string[] = [];
  let file: string | undefined;
  for (const f of files) {
    const h = await fileHash(f);
    if (h === job.scenario.hash) {
      file = f;
      break;
    }
    have.push(h);
  }
  if (file === undefined)
    return {
      why: `worker ${self} has a different scenario "${job.scenario.name}" (hash ${have.join(", ")}, the sweep's ${job.scenario.hash}): run the same version everywhere`,
    };
  for (const p of job.plugins) {
    const f = cat.plugins.get(p.name);
    if (f === undefined)
      return {
        why: `worker ${self} has no plugin "${p.name}": start it with --plugin <file> defining it`,
      };
    const h = await fileHash(f);
    if (h !== p.hash)
      return {
        why: `worker ${self} has a different plugin "${p.name}" (hash ${h}, the sweep's ${p.hash}): run the same version everywhere`,
      };
  }
  return { file };
}
