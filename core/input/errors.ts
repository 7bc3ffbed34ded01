/**
 * The two errors the core throws at its boundaries.
 *
 * - `InputError`: the user gave bad input (a scenario file, a machine description, plugin
 *   options, a `--plugin` path). The CLI prints the message and exits with code 2.
 * - `PluginError`: a plugin misbehaved (threw, or returned a value that breaks its contract).
 *   Modelled on Rollup's `PLUGIN_ERROR`: it names the plugin, the hook and the offending value.
 */

/** One thing wrong with an input value. `path` is a JSON pointer ("" is the value itself). */
export interface Problem {
  path: string;
  message: string;
  value: unknown;
}

/** Bad user input; the CLI exits with code 2. */
export class InputError extends Error {
  readonly code = "INPUT_ERROR" as const;
  readonly exitCode = 2 as const;
  /** Every problem found (the message shows the first few). */
  readonly problems: Problem[];

  constructor(message: string, problems: Problem[] = [], options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "InputError";
    this.problems = problems;
  }
}

export interface PluginErrorOptions {
  /** The value the plugin returned (or was given) that broke the contract. */
  value?: unknown;
  /** What the plugin threw, when it threw. */
  cause?: unknown;
}

/** A plugin threw or broke its contract: `[plugin <name>] <hook>: <message>`. */
export class PluginError extends Error {
  readonly code = "PLUGIN_ERROR" as const;
  readonly plugin: string;
  readonly hook: string;
  /** The offending value; present (possibly `undefined`) only when one was given. */
  declare readonly value?: unknown;
  /** The `code` of the error the plugin threw, when it had one (Rollup's `pluginCode`). */
  declare readonly pluginCode?: string;

  constructor(plugin: string, hook: string, message: string, options: PluginErrorOptions = {}) {
    super(
      `[plugin ${plugin}] ${hook}: ${message}`,
      "cause" in options ? { cause: options.cause } : undefined,
    );
    this.name = "PluginError";
    this.plugin = plugin;
    this.hook = hook;
    if ("value" in options) this.value = options.value;
    const code = (options.cause as { code?: unknown } | null | undefined)?.code;
    if (typeof code === "string") this.pluginCode = code;
  }

  /** Wraps what a plugin threw; a PluginError passes through unchanged (it already names its plugin). */
  static wrap(plugin: string, hook: string, thrown: unknown): PluginError {
    if (thrown instanceof PluginError) return thrown;
    return new PluginError(plugin, hook, describeThrown(thrown), { cause: thrown });
  }
}

/** The PluginError a thrown value is or wraps (a process and a run wrap what a plugin threw). */
export function pluginErrorIn(thrown: unknown): PluginError | undefined {
  for (let c = thrown; c instanceof Error; c = c.cause) if (c instanceof PluginError) return c;
  return undefined;
}

/** A short message for any thrown value (plugins may throw strings or plain objects). */
export function describeThrown(thrown: unknown): string {
  const place = sourcePlace(thrown);
  if (place !== undefined) return place;
  if (thrown instanceof Error) return thrown.message || thrown.name;
  if (typeof thrown === "string") return thrown;
  try {
    return `threw ${JSON.stringify(thrown) ?? String(thrown)}`;
  } catch {
    return `threw ${String(thrown)}`;
  }
}

/**
 * Why importing `file` failed, for one line: a syntax error's place and message (as
 * `describeThrown`), or for a throw while the module ran, where in `file` it was thrown (the
 * first stack frame there): "file:line:column: message".
 */
export function importFailure(file: string, thrown: unknown): string {
  const text = describeThrown(thrown);
  if (sourcePlace(thrown) !== undefined || !(thrown instanceof Error)) return text;
  for (const frame of (thrown.stack ?? "").split("\n")) {
    const at = frame.indexOf(`${file}:`);
    const place = /^(\d+):(\d+)/.exec(frame.slice(at + file.length + 1));
    if (frame.trimStart().startsWith("at ") && at >= 0 && place !== null)
      return `${file}:${place[1]}:${place[2]}: ${text}`;
  }
  return text;
}

export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}

export function isPluginError(e: unknown): e is PluginError {
  return e instanceof PluginError;
}

/** Where in which file the transpiler stopped: Bun throws a BuildMessage (or several in an AggregateError). */
interface BuildPosition {
  file: string;
  line: number;
  column: number;
}

/** "file:line:column: message" for a syntax error, with how many more there are; else undefined. */
function sourcePlace(thrown: unknown): string | undefined {
  const all =
    thrown instanceof AggregateError ? (thrown.errors as unknown[]) : thrown ? [thrown] : [];
  const placed = all.filter(
    (e): e is { position: BuildPosition; message: string } =>
      typeof (e as { position?: { file?: unknown } } | null)?.position?.file === "string",
  );
  const first = placed[0];
  if (first === undefined) return undefined;
  const { file, line, column } = first.position;
  const more = all.length - 1;
  return `${file}:${line}:${column}: ${first.message}${more > 0 ? ` (and ${more} more error${more === 1 ? "" : "s"})` : ""}`;
}
