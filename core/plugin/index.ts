export { type Static, type TSchema, Type } from "@sinclair/typebox";
export {
  type CheckedGlobalPolicy,
  type CheckedLocalPolicy,
  type CheckOptions,
  checkGlobalPolicy,
  checkLocalPolicy,
  type LocalPageState,
  MAX_LEDGER_DOMAIN,
} from "./checked-policy.ts";
export {
  type AnyPlugin,
  definePlugin,
  definePluginCli,
  isPlugin,
  type NoOptions,
  PLUGIN_BRAND,
  PLUGIN_KINDS,
  PLUGIN_NAME_PATTERN,
  type Plugin,
  type PluginCli,
  type PluginContext,
  type PluginKind,
  type PluginProvides,
  type PluginRng,
  type PluginSpec,
} from "./define.ts";
export {
  describeThrown,
  InputError,
  isInputError,
  isPluginError,
  PluginError,
  type PluginErrorOptions,
  type Problem,
} from "./errors.ts";
export { type CoreHooks, type HookFn, type HookMap, type HookOptions, Hooks } from "./hooks.ts";
export { PluginHost, type PluginHostOptions, type RegisteredPlugin } from "./host.ts";
export {
  BUILTIN_PLUGIN_DIR,
  type BuiltinPluginInfo,
  isPluginPath,
  type LoadPluginOptions,
  listBuiltinPlugins,
  loadPlugin,
  REPO_ROOT,
} from "./loader.ts";
export {
  closest,
  compileOptions,
  describeSchema,
  formatProblem,
  formatProblems,
  formatValue,
  MAX_SHOWN_PROBLEMS,
  parseWithSchema,
  type SchemaProblem,
  schemaProblems,
} from "./options.ts";
export {
  type GlobalPolicy,
  type GlobalPolicyContext,
  type GlobalPolicyFactory,
  isRefusal,
  type LocalPolicy,
  type LocalPolicyContext,
  type LocalPolicyFactory,
  type PolicyStats,
  type Refusal,
} from "./policy.ts";
export {
  type LockKind,
  METER_ACQUIRE,
  METER_RELEASE,
  METER_WORK,
  MeterLog,
  type PolicyMeter,
} from "./policy-meter.ts";
