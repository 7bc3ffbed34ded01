/**
 * The public surface of the core: everything a plugin, a scenario or a tool may use. Plugins
 * import only from here.
 */

export { type Static, type TSchema, Type } from "@sinclair/typebox";
export {
  type AnyPlugin,
  definePlugin,
  isPlugin,
  type NoOptions,
  PLUGIN_BRAND,
  PLUGIN_KINDS,
  PLUGIN_NAME_PATTERN,
  type Plugin,
  type PluginContext,
  type PluginKind,
  type PluginProvides,
  type PluginRng,
  type PluginSpec,
} from "./harness/plugin/define.ts";
export {
  type CoreHooks,
  type HookFn,
  type HookMap,
  type HookOptions,
  Hooks,
} from "./harness/plugin/hooks.ts";
export {
  PluginHost,
  type PluginHostOptions,
  type RegisteredPlugin,
} from "./harness/plugin/host.ts";
export {
  BUILTIN_PLUGIN_DIR,
  type BuiltinPluginInfo,
  isPluginPath,
  type LoadPluginOptions,
  listBuiltinPlugins,
  loadPlugin,
  REPO_ROOT,
} from "./harness/plugin/loader.ts";
export {
  type ConformanceCheck,
  type ConformanceOptions,
  type ConformanceReport,
  formatConformance,
  runConformance,
} from "./harness/policy-kit/conformance.ts";
export {
  type PathMetrics,
  type Report,
  type ReportPoint,
  reportCsv,
  reportJson,
  round,
} from "./harness/report/report.ts";
export {
  defineScenario,
  durationNs,
  type PluginRef,
  type Scenario,
  ScenarioSchema,
} from "./harness/scenario/define.ts";
export {
  applySets,
  expandMatrix,
  listScenarios,
  loadScenarioFile,
  loadScenarioPlugins,
  type MatrixPoint,
  parseScenario,
} from "./harness/scenario/load.ts";
export type { RunInfo, RunObserver } from "./harness/scenario/observer.ts";
export {
  assembleReport,
  type PacedRunOptions,
  planRuns,
  type RunPlan,
  runScenario,
  runScenarioAsync,
  type ScenarioRunOptions,
} from "./harness/scenario/run-scenario.ts";
export {
  type PathRun,
  type PathRunState,
  type PluginTable,
  runPath,
  startPath,
} from "./harness/scenario/runner.ts";
export { TraceCollector } from "./harness/scenario/trace-collector.ts";
export {
  describeThrown,
  InputError,
  isInputError,
  isPluginError,
  PluginError,
  type PluginErrorOptions,
  type Problem,
} from "./input/errors.ts";
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
} from "./input/validate.ts";
export { DvmaBroker } from "./model/domains/broker.ts";
export { BrokerClient } from "./model/domains/broker-client.ts";
export {
  type CheckedGlobalPolicy,
  type CheckedLocalPolicy,
  type CheckOptions,
  checkGlobalPolicy,
  checkLocalPolicy,
  type LocalPageState,
  MAX_LEDGER_DOMAIN,
} from "./model/domains/checked-policy.ts";
export { DevicePort } from "./model/domains/device-port.ts";
export {
  DEFAULT_GUEST_DMA,
  type DmaDirection,
  type DmaFailure,
  type DmaMapping,
  GuestDmaApi,
  type GuestDmaOptions,
  isDmaFailure,
  PGLIST_NENTS,
} from "./model/domains/guest-dma.ts";
export { GuestMemory } from "./model/domains/guest-memory.ts";
export { invariantViolations, ledgerViolations } from "./model/domains/invariants.ts";
export * from "./model/domains/io.ts";
export { type GuestOs, Platform, type PlatformConfig } from "./model/domains/platform.ts";
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
} from "./model/domains/policy.ts";
export {
  type LockKind,
  METER_ACQUIRE,
  METER_RELEASE,
  METER_WORK,
  MeterLog,
  type PolicyMeter,
} from "./model/domains/policy-meter.ts";
export {
  decode,
  encode,
  type Message,
  Msg,
  message,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
} from "./model/domains/protocol.ts";
export { type PageRange, RangeSet } from "./model/domains/ranges.ts";
export * from "./model/events/index.ts";
export { hypercall, type TrapResult } from "./model/hv/abi.ts";
export { type HvDevice, type HvDomain, Hypervisor, RA_BASE } from "./model/hv/hypervisor.ts";
export { hypervisorViolations, quiescentViolations } from "./model/hv/invariants.ts";
export { LDC_PACKET_SIZE, LdcChannel, type LdcOptions } from "./model/hv/ldc.ts";
export {
  DOCUMENTED_STATUSES,
  FN,
  FN_NAMES,
  HV,
  type HvStatus,
  statusName,
  tsbid,
} from "./model/hv/status.ts";
export {
  DMA_FAULT_NAMES,
  DmaFault,
  type DmaFaultCode,
  Iommu,
  type Isolation,
} from "./model/iommu/iommu.ts";
export { Iotlb } from "./model/iommu/iotlb.ts";
export {
  IO_ATTR_MASK,
  IO_ATTR_READ,
  IO_ATTR_RELAXED_ORDER,
  IO_ATTR_WRITE,
  Iotsb,
} from "./model/iommu/iotsb.ts";
export { AddressSpace, pageOf, pagesSpanned } from "./model/machine/address-space.ts";
export { type CostModel, CostModelSchema } from "./model/machine/cost-model.ts";
export { DomainCpu } from "./model/machine/cpu.ts";
export {
  type DeviceDescription,
  type DomainDescription,
  type MachineDescription,
  MachineSchema,
  type RootComplexDescription,
} from "./model/machine/description.ts";
export {
  OWNER_FREE,
  OWNER_HV,
  PAGE_SHIFT,
  PAGE_SIZE,
  PhysMemory,
  WORDS_PER_PAGE,
} from "./model/machine/memory.ts";
export { parseCostModel, parseMachine } from "./model/machine/parse.ts";
export * from "./model/sim/index.ts";
