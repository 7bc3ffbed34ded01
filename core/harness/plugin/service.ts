import { InputError, PluginError } from "../../input/errors.ts";
import { parseWithSchema } from "../../input/validate.ts";
import type { ObserverRef } from "../scenario/runner.ts";
import type { AnyPlugin, PluginService } from "./define.ts";

/** An observer's started service and what each run registers: the plugin, its options, the service. */
export interface StartedService<S extends PluginService = PluginService> {
  readonly service: S;
  readonly perRun: ObserverRef;
}

/**
 * Starts `plugin`'s service (an observer's server) once, outside any run: its options are
 * validated with its schema (defaults applied) and handed to `service`. Register `perRun` in
 * every run (`observers: [started.perRun]`); call `service.stop()` after the last.
 * @throws InputError for bad options or input the service refuses (a port in use)
 */
export function startService<S extends PluginService = PluginService>(
  plugin: AnyPlugin,
  rawOptions?: unknown,
  log: (message: string) => void = () => {},
): StartedService<S> {
  if (plugin.kind !== "observer" || plugin.service === undefined)
    throw new InputError(`plugin "${plugin.name}" has no service to start (an observer's server)`);
  const options =
    plugin.options === undefined
      ? {}
      : parseWithSchema(plugin.options, rawOptions, `plugin "${plugin.name}" option `);
  let service: S;
  try {
    service = plugin.service(options, log) as S;
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw PluginError.wrap(plugin.name, "service", e);
  }
  return { service, perRun: [plugin, options, service] };
}
