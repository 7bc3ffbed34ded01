/** `list` (the built-in scenarios) and `plugins` (the built-in plugins with their options). */

import type { TSchema } from "@sinclair/typebox";
import type { AnyPlugin } from "../harness/plugin/define.ts";
import { listBuiltinPlugins, loadPlugin } from "../harness/plugin/loader.ts";
import { listScenarios, loadScenarioFile } from "../harness/scenario/load.ts";
import { describeSchema } from "../input/validate.ts";
import type { CliIo } from "./io.ts";

export async function listCommand(io: CliIo): Promise<number> {
  for (const name of await listScenarios()) {
    const raw = (await loadScenarioFile(name, process.cwd())) as { description?: string };
    io.out.write(`${name.padEnd(14)} ${raw.description ?? ""}\n`);
  }
  return 0;
}

export async function pluginsCommand(io: CliIo): Promise<number> {
  for (const info of await listBuiltinPlugins()) {
    io.out.write(`${info.kind.padEnd(14)} ${info.name.padEnd(20)} ${info.description}\n`);
    const plugin = await loadPlugin(info.path, { cwd: "/" });
    for (const line of optionLines(plugin)) io.out.write(`${" ".repeat(16)}${line}\n`);
  }
  return 0;
}

/** One line per option: name, what it allows (description and default from the TypeBox schema). */
export function optionLines(plugin: AnyPlugin): string[] {
  const props = (plugin.options as { properties?: Record<string, TSchema> } | undefined)
    ?.properties;
  if (props === undefined) return [];
  return Object.entries(props).map(([name, schema]) => `${name}: ${describeSchema(schema)}`);
}
