/**
 * The public surface of the core: everything a plugin, a scenario or a tool may use. Plugins
 * import only from here.
 */

export { DvmaBroker } from "./domains/broker.ts";
export { BrokerClient } from "./domains/broker-client.ts";
export { DevicePort } from "./domains/device-port.ts";
export {
  DEFAULT_GUEST_DMA,
  type DmaDirection,
  type DmaFailure,
  type DmaMapping,
  GuestDmaApi,
  type GuestDmaOptions,
  isDmaFailure,
  PGLIST_NENTS,
} from "./domains/guest-dma.ts";
export { GuestMemory } from "./domains/guest-memory.ts";
export * from "./domains/io.ts";
export { type GuestOs, Platform, type PlatformConfig } from "./domains/platform.ts";
export {
  decode,
  encode,
  type Message,
  Msg,
  message,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
} from "./domains/protocol.ts";
export { type PageRange, RangeSet } from "./domains/ranges.ts";
export * from "./events/index.ts";
export { hypercall, type TrapResult } from "./hv/abi.ts";
export { type HvDevice, type HvDomain, Hypervisor, RA_BASE } from "./hv/hypervisor.ts";
export { invariantViolations, quiescentViolations } from "./hv/invariants.ts";
export { LDC_PACKET_SIZE, LdcChannel, type LdcOptions } from "./hv/ldc.ts";
export {
  DOCUMENTED_STATUSES,
  FN,
  FN_NAMES,
  HV,
  type HvStatus,
  statusName,
  tsbid,
} from "./hv/status.ts";
export {
  DMA_FAULT_NAMES,
  DmaFault,
  type DmaFaultCode,
  Iommu,
  type Isolation,
} from "./iommu/iommu.ts";
export { Iotlb } from "./iommu/iotlb.ts";
export {
  IO_ATTR_MASK,
  IO_ATTR_READ,
  IO_ATTR_RELAXED_ORDER,
  IO_ATTR_WRITE,
  Iotsb,
} from "./iommu/iotsb.ts";
export { AddressSpace, pageOf, pagesSpanned } from "./machine/address-space.ts";
export { type CostModel, CostModelSchema } from "./machine/cost-model.ts";
export { DomainCpu } from "./machine/cpu.ts";
export {
  type DeviceDescription,
  type DomainDescription,
  type MachineDescription,
  MachineSchema,
  type RootComplexDescription,
} from "./machine/description.ts";
export {
  OWNER_FREE,
  OWNER_HV,
  PAGE_SHIFT,
  PAGE_SIZE,
  PhysMemory,
  WORDS_PER_PAGE,
} from "./machine/memory.ts";
export { parseCostModel, parseMachine } from "./machine/parse.ts";
export {
  type ConformanceCheck,
  type ConformanceOptions,
  type ConformanceReport,
  formatConformance,
  runConformance,
} from "./plugin/conformance.ts";
export * from "./plugin/index.ts";
export {
  DurationSchema,
  defineScenario,
  durationNs,
  type PluginRef,
  type Scenario,
  ScenarioSchema,
} from "./scenario/define.ts";
export { htmlReport } from "./scenario/html-report.ts";
export {
  applySets,
  expandMatrix,
  listScenarios,
  loadScenarioFile,
  loadScenarioPlugins,
  type MatrixPoint,
  type PluginUse,
  parseScenario,
  pluginUses,
} from "./scenario/load.ts";
export type { RunInfo, RunObserver } from "./scenario/observer.ts";
export {
  type PathMetrics,
  type Report,
  type ReportPoint,
  reportCsv,
  reportJson,
  round,
} from "./scenario/report.ts";
export {
  assembleReport,
  type PacedRunOptions,
  planRuns,
  type RunPlan,
  runScenario,
  runScenarioAsync,
  type ScenarioRunOptions,
} from "./scenario/run-scenario.ts";
export {
  type PathRun,
  type PathRunState,
  type PluginTable,
  runPath,
  startPath,
} from "./scenario/runner.ts";
export { TraceCollector } from "./scenario/trace-collector.ts";
export * from "./sim/index.ts";
