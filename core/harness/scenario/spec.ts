import type { Scenario } from "./define.ts";
import { applySets, loadScenarioFile, loadScenarioPlugins, parseScenario } from "./load.ts";
import type { PluginTable } from "./runner.ts";

/**
 * A scenario as the command line names it: plain data, so it can be posted to a worker that
 * loads it again (a scenario object may hold functions, which do not cross threads).
 */
export interface ScenarioSpec {
  /** Built-in scenario name or file path. */
  target: string;
  /** Directory that relative paths (scenario, plugins) are resolved against. */
  cwd: string;
  /** `key=value` overrides, applied in order. */
  sets: string[];
  /** `--plugin` files. */
  plugins: string[];
  /** Refuse plugins named by path (a spec built from queue data never imports a path from it). */
  namesOnly?: boolean;
}

export interface LoadedScenario {
  raw: unknown;
  scn: Scenario;
  table: PluginTable;
}

/** Loads, overrides and validates a scenario and its plugins. @throws InputError */
export async function loadSpec(spec: ScenarioSpec): Promise<LoadedScenario> {
  const raw = applySets(await loadScenarioFile(spec.target, spec.cwd), spec.sets);
  const scn = parseScenario(raw);
  return {
    raw,
    scn,
    table: await loadScenarioPlugins(scn, spec.cwd, spec.plugins, spec.namesOnly),
  };
}
