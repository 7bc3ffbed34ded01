/**
 * What a run over HTTP may name: the built-in scenarios and plugins, plus the plugin files the
 * CLI was given (`--plugin`), all loaded once when the server starts. A request names entries
 * by registered name only; nothing it sends is ever resolved as a path or imported.
 */

import {
  InputError,
  listBuiltinPlugins,
  listScenarios,
  loadPlugin,
  loadScenarioFile,
  type pluginUses,
} from "../../core/index.ts";

type AnyPlugin = Awaited<ReturnType<typeof loadPlugin>>;
type PluginUse = ReturnType<typeof pluginUses>[number];

export interface CatalogueScenario {
  name: string;
  description: string;
  /** The scenario file's default export (never mutated: sets apply to a copy). */
  raw: unknown;
}

/** How the catalogue loads a plugin (tests count the calls). */
export type PluginLoader = typeof loadPlugin;

export class Catalogue {
  private constructor(
    readonly scenarios: ReadonlyMap<string, CatalogueScenario>,
    readonly plugins: ReadonlyMap<string, AnyPlugin>,
  ) {}

  /** Loads every built-in scenario and plugin, then `pluginFiles` (trusted: from the command line). */
  static async load(
    cwd: string,
    pluginFiles: readonly string[] = [],
    loader: PluginLoader = loadPlugin,
  ): Promise<Catalogue> {
    const scenarios = new Map<string, CatalogueScenario>();
    for (const name of await listScenarios()) {
      const raw = (await loadScenarioFile(name, cwd)) as { description?: unknown };
      const description = typeof raw.description === "string" ? raw.description : "";
      scenarios.set(name, { name, description, raw });
    }
    const plugins = new Map<string, AnyPlugin>();
    for (const info of await listBuiltinPlugins()) {
      if (!plugins.has(info.name)) plugins.set(info.name, await loader(info.name, { cwd }));
    }
    for (const f of pluginFiles) {
      const p = await loader(f, { cwd });
      plugins.set(p.name, p);
    }
    return new Catalogue(scenarios, plugins);
  }

  /**
   * The plugin table for a run using `uses`, each looked up by exact name.
   * @throws InputError naming the scenario field of the first name not in the catalogue
   */
  table(uses: readonly PluginUse[]): Map<string, AnyPlugin> {
    const table = new Map<string, AnyPlugin>();
    for (const u of uses) {
      const p = this.plugins.get(u.name);
      if (p === undefined) {
        throw new InputError(
          `${u.field}: ${JSON.stringify(u.name)} is not a registered plugin name; a run over ` +
            `HTTP may name only: ${[...this.plugins.keys()].sort().join(", ")}`,
          [
            {
              path: `/${u.field.split(".").join("/")}`,
              message: "not a registered plugin name",
              value: u.name,
            },
          ],
        );
      }
      table.set(u.name, p);
    }
    return table;
  }
}
