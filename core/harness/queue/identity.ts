import { resolve } from "node:path";
import { listBuiltinPlugins, loadPlugin } from "../plugin/loader.ts";
import { listScenarios, SCENARIO_DIR } from "../scenario/load.ts";
import type { PluginTable } from "../scenario/runner.ts";
import type { NamedHash, PointJob } from "./job.ts";

/**
 * What a machine can run, by registered name: the built-in scenarios, the built-in plugins and
 * the `--plugin` files of its own command line (which win over a built-in of the same name, as
 * when a scenario loads its plugins). Each name maps to the file that defines it.
 */
export interface Catalogue {
  scenarios: Map<string, string>;
  plugins: Map<string, string>;
}

export async function catalogue(cwd: string, pluginFiles: readonly string[]): Promise<Catalogue> {
  const scenarios = new Map<string, string>();
  for (const name of await listScenarios())
    scenarios.set(name, resolve(SCENARIO_DIR, `${name}.ts`));
  const plugins = new Map<string, string>();
  for (const p of await listBuiltinPlugins()) if (!plugins.has(p.name)) plugins.set(p.name, p.path);
  for (const f of pluginFiles) plugins.set((await loadPlugin(f, { cwd })).name, resolve(cwd, f));
  return { scenarios, plugins };
}

const hashes = new Map<string, string>();

/** SHA-256 of a file's bytes (hex, first 16 digits: enough to tell versions apart). */
export async function fileHash(path: string): Promise<string> {
  let h = hashes.get(path);
  if (h === undefined) {
    const hasher = new Bun.CryptoHasher("sha256");
    hasher.update(await Bun.file(path).arrayBuffer());
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
    // Every loaded plugin came from a built-in or a --plugin file, so this is a bug if it throws.
    if (file === undefined) throw new Error(`plugin "${name}" has no file in the catalogue`);
    plugins.push({ name, hash: await fileHash(file) });
  }
  return { scenario: { name: scenarioName, hash: await fileHash(scenarioFile) }, plugins };
}

/** Why this machine cannot run the job (missing or different scenario or plugin), or undefined. */
export async function mismatch(
  job: PointJob,
  cat: Catalogue,
  self: string,
): Promise<string | undefined> {
  const file = cat.scenarios.get(job.scenario.name);
  if (file === undefined)
    return `worker ${self} has no built-in scenario "${job.scenario.name}" (workers run built-in scenarios only)`;
  const sh = await fileHash(file);
  if (sh !== job.scenario.hash)
    return `worker ${self} has a different scenario "${job.scenario.name}" (hash ${sh}, the sweep's ${job.scenario.hash}): run the same version everywhere`;
  for (const p of job.plugins) {
    const f = cat.plugins.get(p.name);
    if (f === undefined)
      return `worker ${self} has no plugin "${p.name}": start it with --plugin <file> defining it`;
    const h = await fileHash(f);
    if (h !== p.hash)
      return `worker ${self} has a different plugin "${p.name}" (hash ${h}, the sweep's ${p.hash}): run the same version everywhere`;
  }
  return undefined;
}
