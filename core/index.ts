/**
 * The public API: what a plugin, a scenario or a tool built on the simulator imports. Plugins
 * and scenarios import nothing else of the core; inside core, files import each other by path.
 * test/core/public-api.test.ts lists these names: a name added here is added there too.
 */

// ── Writing plugins ────────────────────────────────────────────────────────────────────────

export {
  /** TypeBox: the TypeScript type a schema describes. */
  type Static,
  /** TypeBox: any schema. */
  type TSchema,
  /** TypeBox: build a plugin's `options` schema with `Type.Object({...})`. */
  Type,
} from "@sinclair/typebox";
export {
  /** Defines a plugin: checks its shape, freezes and brands it (the one way to write one). */
  definePlugin,
  /** Declares a plugin's command-line flags (citty args), literal types kept; see `PluginCli`. */
  definePluginCli,
  /** A plugin as `definePlugin` returns it (kind and options schema in its type). */
  type Plugin,
  /** Flags a plugin adds to `bun run scenario` and how they become its options. */
  type PluginCli,
  /** What `setup` receives: the plugin's name, hooks, bus, seeded random streams and log. */
  type PluginContext,
  /** `policy.global`, `policy.local`, `device`, `workload`, `path` or `observer`. */
  type PluginKind,
  /** What an observer's `service` starts once and the runs share (a server): `url`, `stop`, `hold`, `follow`. */
  type PluginService,
  /** A sweep run by a queue's workers (`--queue`), as `PluginService.follow` is handed it. */
  type QueuedSweep,
  /** What a service following a queued sweep is told: each run's progress and result, and the end. */
  type SweepFollower,
} from "./harness/plugin/define.ts";
export type {
  /** The run's hooks a plugin taps through `ctx.hooks`. */
  CoreHooks,
} from "./harness/plugin/hooks.ts";
export {
  /** Every built-in plugin: name, kind, version, description. */
  listBuiltinPlugins,
  /** Loads a plugin by built-in name or file path. */
  loadPlugin,
} from "./harness/plugin/loader.ts";
export {
  /** An observer's started service and what each run registers (`observers: [perRun]`). */
  type StartedService,
  /** Starts an observer's service (a server) once, outside any run; each run's host hands it to setup. */
  startService,
} from "./harness/plugin/service.ts";
export {
  /** A short message for any thrown value. */
  describeThrown,
  /** Bad user input: the CLI prints its one-line message and exits with code 2. */
  InputError,
  /** A plugin threw or broke its contract; names the plugin, the hook and the value. */
  PluginError,
} from "./input/errors.ts";
export {
  /** Validates a value against a TypeBox schema with defaults and conversions; throws InputError. */
  parseWithSchema,
  /** Every problem of a value against a schema, as JSON pointers with messages (no throw). */
  schemaProblems,
} from "./input/validate.ts";

// ── Allocation policies ────────────────────────────────────────────────────────────────────

export {
  /** The policy kit's report as text lines. */
  formatConformance,
  /** The policy kit: runs a policy plugin against the contract and reports every check. */
  runConformance,
} from "./harness/policy-kit/conformance.ts";
export {
  /** The control domain's allocator over the whole DVMA window. */
  type GlobalPolicy,
  /** What a global policy factory receives (window size, meter, guests). */
  type GlobalPolicyContext,
  /** True when a global policy's answer is a refusal. */
  isRefusal,
  /** A guest's allocator over the DVMA ranges it holds. */
  type LocalPolicy,
  /** What a local policy factory receives (window size, meter, vCPUs). */
  type LocalPolicyContext,
  /** A policy's figures (pages handed out and free, allocations, failures, its own figures). */
  type PolicyStats,
  /** Why a global policy refused a grant (the guest sees it in its nack). */
  type Refusal,
} from "./model/domains/policy.ts";
export type {
  /** "spin" (burns the CPU while waiting) or "sleep" (frees it). */
  LockKind,
  /** Where a policy declares its locks and work units and reports them per call. */
  PolicyMeter,
} from "./model/domains/policy-meter.ts";

// ── Devices, paths and workloads ───────────────────────────────────────────────────────────

export {
  /** Driver work a request's completion interrupt handler does for it (e.g. the unmap). */
  type Completion,
  /** What DeviceModel.execute returns when the data a device read is not what the driver wrote. */
  DATA_CORRUPT,
  /** What a device factory receives (simulator, port, description, cost model, rng, owner's vCPUs). */
  type DeviceEnv,
  /** A device model: moves data by DMA through its port. */
  type DeviceModel,
  /** A guest's connection to one device through a path. */
  type GuestIo,
  /** tx, rx, read or write. */
  type IoOp,
  /** An I/O path (direct, service-domain, bare metal): connects a guest to a device. */
  type IoPath,
  /** One I/O a workload submits. */
  type IoRequest,
  /** How an I/O ended. */
  type IoResult,
  /** True when the operation writes into memory (rx, read). */
  intoMemory,
  /** What a path's `connect` receives. */
  type PathEnv,
  /** What a path's `plan` may change before boot (machine, cost model, guest DMA options). */
  type PathPlan,
  /** A workload: starts processes that submit I/O. */
  type Workload,
  /** What a workload's `start` receives. */
  type WorkloadEnv,
} from "./model/domains/io.ts";

// ── The simulated machine ──────────────────────────────────────────────────────────────────

export {
  /** A guest's DMA API (mapSingle, mapSg, unmap, allocCoherent, sync). */
  GuestDmaApi,
} from "./model/domains/guest-dma.ts";
export {
  /** True when a DMA API call failed (and why). */
  isDmaFailure,
} from "./model/domains/guest-dma-types.ts";
export {
  /** A guest's memory: buffers with real and physical addresses. */
  GuestMemory,
} from "./model/domains/guest-memory.ts";
export {
  /** A booted machine: hypervisor, broker, guests, CPUs, devices. */
  Platform,
} from "./model/domains/platform.ts";
export {
  /** Encodes a negotiation message into a 64-byte packet. */
  encode,
  /** Negotiation protocol message types. */
  Msg,
  /** Builds a negotiation message. */
  message,
} from "./model/domains/protocol.ts";
export {
  /** The run's typed event bus (costs nothing when nobody listens). */
  EventBus,
} from "./model/events/bus.ts";
export {
  /** Every event type the bus carries. */
  EVENT_TYPES,
  /** Any event on the bus (a tagged union on `type`). */
  type SimEvent,
} from "./model/events/schemas.ts";
export {
  /** Makes a raw hypercall through the 64-bit ABI (registers in, registers out). */
  hypercall,
} from "./model/hv/abi.ts";
export {
  /** sun4v hypercall function numbers. */
  FN,
  /** The tsbid argument of the IOMMU calls: tsbnum and entry index in one 64-bit word. */
  tsbid,
} from "./model/hv/functions.ts";
export {
  /** The hypervisor: hypercalls, DVMA ownership, LDC. */
  Hypervisor,
  /** Real addresses start here in every guest. */
  RA_BASE,
} from "./model/hv/hypervisor.ts";
export {
  /** Bytes in one LDC packet. */
  LDC_PACKET_SIZE,
  /** A logical domain channel between two domains. */
  LdcChannel,
} from "./model/hv/ldc.ts";
export {
  /** sun4v status codes (EOK, ENORADDR, ...). */
  HV,
  /** The name of a status code. */
  statusName,
} from "./model/hv/status.ts";
export {
  /** Names of the DMA fault codes. */
  DMA_FAULT_NAMES,
  /** The IOMMU of one root complex. */
  Iommu,
} from "./model/iommu/iommu.ts";
export {
  /** IO attribute bit: the device may read the page. */
  IO_ATTR_READ,
  /** IO attribute bit: the device may write the page. */
  IO_ATTR_WRITE,
} from "./model/iommu/iotsb.ts";
export {
  /** A DVMA owner table as [owner, length] runs in window order (-1 = free). */
  runLengths,
} from "./model/iommu/owner-runs.ts";
export {
  /** How many pages [addr, addr + bytes) touches. */
  pagesSpanned,
} from "./model/machine/address-space.ts";
export {
  /** The vCPU to ask for when any free strand will do (control-domain service threads). */
  ANY_VCPU,
  /** A domain's virtual CPUs: work holds one for as long as it takes; utilisation per vCPU. */
  DomainCpu,
} from "./model/machine/cpu.ts";
export {
  /** Size of an IO page and of a physical page: 8 KiB. */
  PAGE_SIZE,
} from "./model/machine/memory.ts";
export {
  /** A simulated process: a generator that yields delays and signals. */
  type Proc,
  /** A one-shot or repeated wake-up processes wait on. */
  Signal,
  /** The event kernel: integer-nanosecond clock, processes, timers. */
  Simulator,
} from "./model/sim/kernel.ts";
export {
  /** A counted resource (CPU strands, engine slots) held for as long as work takes. */
  Resource,
} from "./model/sim/resource.ts";
export {
  /** A log-bucketed (HDR-style) histogram: percentiles within 1.6%, exact min and max; merges. */
  Histogram,
} from "./model/sim/stats.ts";
export {
  /** A signal that can be set to fire at a known later time, waking its waiters then with no event of its own. */
  TimedSignal,
} from "./model/sim/timed-signal.ts";

// ── Scenarios, runs and reports ────────────────────────────────────────────────────────────

export {
  /** A report as a self-contained HTML page (tables, charts, DVMA map). */
  htmlReport,
} from "./harness/report/html-report.ts";
export {
  /** The figures of one run. */
  type PathMetrics,
  /** A scenario's report: every point and path with its metrics. */
  type Report,
  /** A report as CSV: one row per point and path. */
  reportCsv,
  /** A report as JSON text (the bytes `--json` prints). */
  reportJson,
  /** Rounds a figure the way reports do. */
  round,
} from "./harness/report/report.ts";
export {
  /** A simulated duration: integer nanoseconds, or a string with a unit ("20ms"). */
  DurationSchema,
  /** Defines a scenario: machine, plugins, workloads, matrix, faults. */
  defineScenario,
  /** Nanoseconds of a duration value. */
  durationNs,
  /** A validated scenario, defaults applied. */
  type Scenario,
} from "./harness/scenario/define.ts";
export {
  /** Applies `--set key=value` overrides to a scenario. */
  applySets,
  /** Names of the built-in scenarios. */
  listScenarios,
  /** Loads a scenario file by name or path. */
  loadScenarioFile,
  /** Loads every plugin a scenario names. */
  loadScenarioPlugins,
  /** Validates a scenario; throws InputError naming each field. */
  parseScenario,
  /** Every plugin a scenario names at every matrix point, with the field that names it. */
  pluginUses,
} from "./harness/scenario/load.ts";
export {
  /** The usual machine literal: root complex 0x200, control domain `primary`, guests with the same devices. */
  guestMachine,
} from "./harness/scenario/machine-literal.ts";
export type {
  /** The run a plugin is set up in (`ctx.run`): its RunInfo, simulator and end time. */
  RunContext,
  /** Identifies one run (scenario, point, path, domains, position). */
  RunInfo,
} from "./harness/scenario/run-info.ts";
export {
  /** Every (matrix point, path) run of a scenario, in report order. */
  planRuns,
  /** Runs a scenario serially and returns its report. */
  runScenario,
  /** Runs a scenario in slices with the event loop free in between, optionally paced. */
  runScenarioAsync,
} from "./harness/scenario/run-scenario.ts";
export type {
  /** An observer a run registers: the plugin alone, with its options, or also with its started service. */
  ObserverRef,
} from "./harness/scenario/runner.ts";
export {
  /** Records a run's events as a Chrome Trace Event file. */
  TraceCollector,
} from "./harness/scenario/trace-collector.ts";
