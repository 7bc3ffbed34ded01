import { InputError } from "../../input/errors.ts";
import { invariantViolations } from "../../model/domains/invariants.ts";
import type {
  DeviceFactory,
  DeviceModel,
  GuestIo,
  IoPath,
  Workload,
} from "../../model/domains/io.ts";
import { Platform } from "../../model/domains/platform.ts";
import type { GlobalPolicyFactory, LocalPolicyFactory } from "../../model/domains/policy.ts";
import { EventBus } from "../../model/events/bus.ts";
import { runLengths } from "../../model/iommu/owner-runs.ts";
import { parseCostModel, parseMachine } from "../../model/machine/parse.ts";
import { Simulator } from "../../model/sim/kernel.ts";
import { RngStreams } from "../../model/sim/rng.ts";
import { Histogram } from "../../model/sim/stats.ts";
import type { AnyPlugin } from "../plugin/define.ts";
import { type CoreHooks, Hooks } from "../plugin/hooks.ts";
import { PluginHost } from "../plugin/host.ts";
import { type PathMetrics, round } from "../report/report.ts";
import { cpuFigures, lockFigures } from "./cpu-figures.ts";
import { durationNs, type PluginRef, type Scenario } from "./define.ts";
import { IoErrorTally, PluginErrorLog } from "./failures.ts";
import type { RunInfo, RunObserver } from "./observer.ts";
import { startSampler } from "./sampler.ts";

/** Plugins loaded for a scenario, by the reference string used in the scenario. */
export type PluginTable = ReadonlyMap<string, AnyPlugin>;

export const refName = (ref: PluginRef): string => (typeof ref === "string" ? ref : ref[0]);
export const refOptions = (ref: PluginRef): unknown =>
  typeof ref === "string" ? undefined : ref[1];

export interface RunOptions {
  /** Watchers of this run (trace, live feed, tests). */
  observers?: readonly RunObserver[];
  /** Where this run sits among the scenario's runs. */
  index?: number;
  total?: number;
}

export interface PathRun {
  metrics: PathMetrics;
  platform: Platform;
  info: RunInfo;
  events: number;
}

function plugin(table: PluginTable, ref: PluginRef, kind: string): AnyPlugin {
  const p = table.get(refName(ref));
  if (p === undefined) throw new InputError(`plugin "${refName(ref)}" was not loaded`);
  if (p.kind !== kind)
    throw new InputError(
      `plugin "${p.name}" is a ${p.kind} plugin; a ${kind} plugin is needed here`,
    );
  return p;
}

/** A booted run, ready for its clock to advance (all at once, or in paced slices). */
export interface PathRunState {
  sim: Simulator;
  platform: Platform;
  untilNs: number;
  /** Ends the run (hooks, metrics). Call once, after the clock reached untilNs. */
  finish(): PathRun;
}

/**
 * Runs one scenario point over one I/O path on a freshly booted machine, synchronously (no
 * Promise in the loop, so the same seed gives the same event sequence).
 */
export function runPath(
  scn: Scenario,
  pathRef: PluginRef,
  table: PluginTable,
  params: Record<string, unknown>,
  opts: RunOptions = {},
): PathRun {
  const state = startPath(scn, pathRef, table, params, opts);
  state.sim.run(state.untilNs);
  return state.finish();
}

/** Boots the machine and schedules everything for one (point, path) run; the clock has not moved. */
export function startPath(
  scn: Scenario,
  pathRef: PluginRef,
  table: PluginTable,
  params: Record<string, unknown>,
  opts: RunOptions = {},
): PathRunState {
  const sim = new Simulator();
  const bus = new EventBus(() => sim.now);
  const hooks = new Hooks<CoreHooks>();
  const rng = new RngStreams(scn.seed);
  const pluginErrors = new PluginErrorLog(() => sim.now, scn.seed);
  const host = new PluginHost({
    hooks,
    bus,
    rng: (s) => rng.stream(s),
    onPolicyError: (e) => {
      pluginErrors.record(e);
      if (bus.wants("plugin.error"))
        bus.emit("plugin.error", { plugin: e.plugin, hook: e.hook, message: e.message });
    },
  });
  const untilNs = durationNs(scn.duration);
  const globalPolicy = host.use(
    plugin(table, scn.policies.global, "policy.global") as never,
    refOptions(scn.policies.global),
  ) as GlobalPolicyFactory;
  const localPolicy = host.use(
    plugin(table, scn.policies.local, "policy.local") as never,
    refOptions(scn.policies.local),
  ) as LocalPolicyFactory;
  const path = host.use(plugin(table, pathRef, "path") as never, refOptions(pathRef)) as IoPath;

  const md = parseMachine(scn.machine, "scenario /machine");
  const baseCost = parseCostModel(scn.cost, "scenario /cost");
  const plan = path.plan?.({ md, cost: baseCost, guestDma: scn.guestDma }) ?? {
    md,
    cost: baseCost,
    guestDma: scn.guestDma,
  };
  const cost = plan.cost;
  const info: RunInfo = {
    scenario: scn.name,
    path: path.name,
    params,
    domainNames: plan.md.domains.map((d) => d.name),
    index: opts.index ?? 0,
    total: opts.total ?? 1,
  };
  const observers = opts.observers ?? [];
  for (const o of observers) o.onRun?.(bus, info, sim);

  const platform = new Platform({
    md: plan.md,
    cost,
    seed: scn.seed,
    globalPolicy: (_dh, windowPages, guests, meter) => globalPolicy({ windowPages, guests, meter }),
    localPolicy: (_g, _dh, windowPages, cpus, meter) => localPolicy({ windowPages, cpus, meter }),
    guestDma: plan.guestDma,
    ldc: scn.ldc,
    bus,
    sim,
  });
  const { hv } = platform;

  // Device models, one per device of the machine.
  const factories = new Map<string, DeviceFactory>();
  const models = new Map<string, DeviceModel>();
  for (const dev of hv.devices) {
    const kind = dev.desc.kind;
    let factory = factories.get(kind);
    if (factory === undefined) {
      const ref = scn.devices[kind] ?? kind;
      factory = host.use(plugin(table, ref, "device") as never, refOptions(ref)) as DeviceFactory;
      factories.set(kind, factory);
    }
    const port = platform.devicePort(dev.id);
    models.set(
      dev.desc.name,
      factory({ sim, port, desc: dev.desc, cost, rng: rng.stream(`device:${dev.desc.name}`) }),
    );
  }

  // Metering: every I/O a workload completes is counted here.
  const lat = new Histogram();
  let ios = 0;
  let bytes = 0;
  const failed = new IoErrorTally();
  let attacks = 0;
  let blocked = 0;
  const extra = new Map<string, Histogram>();
  const figures = new Map<string, number>();
  bus.on("attack", (e) => {
    attacks++;
    if (e.blocked) blocked++;
  });
  // Per device kind too, so a NIC's and a disk's figures are not only seen mixed.
  const byKind = new Map<string, { ios: number; bytes: number; lat: Histogram }>();
  const meter = (io: GuestIo): GuestIo => {
    let kind = byKind.get(io.device.kind);
    if (kind === undefined)
      byKind.set(io.device.kind, (kind = { ios: 0, bytes: 0, lat: new Histogram() }));
    const k = kind;
    return {
      guest: io.guest,
      device: io.device,
      setup: () => io.setup(),
      *submit(req, cpu) {
        const r = yield* io.submit(req, cpu);
        if (r.ok) {
          ios++;
          bytes += r.bytes;
          lat.record(r.latencyNs);
          k.ios++;
          k.bytes += r.bytes;
          k.lat.record(r.latencyNs);
        } else failed.record(r.error || "unknown");
        if (bus.wants("io.done")) {
          bus.emit("io.done", {
            domain: io.guest,
            path: path.name,
            op: req.op,
            bytes: r.ok ? r.bytes : 0,
            latencyNs: r.latencyNs,
          });
        }
        return r;
      },
    };
  };

  // Endpoints: each guest's devices as the scenario's machine assigns them (before the path's plan).
  const endpoints = new Map<number, Map<string, GuestIo>>();
  for (const g of platform.guests) {
    const mine = new Map<string, GuestIo>();
    for (const d of md.devices.filter((x) => x.domain === g.name)) {
      const device = models.get(d.name)!;
      mine.set(
        d.kind,
        meter(
          path.connect({
            platform,
            guest: g,
            device,
            cost,
            rng: rng.stream(`path:${g.name}:${d.name}`),
            bus,
          }),
        ),
      );
    }
    endpoints.set(g.id, mine);
  }

  // The same workload plugin may appear several times with other options: one instance each.
  const workloads = scn.workloads.map((w, i) => ({
    spec: w,
    impl: host.use(
      plugin(table, w.plugin, "workload") as never,
      refOptions(w.plugin),
      scn.workloads.findIndex((x) => refName(x.plugin) === refName(w.plugin)) === i
        ? undefined
        : `${refName(w.plugin)}#${i}`,
    ) as Workload,
  }));

  // Boot: each guest shakes hands with the broker, sets up its endpoints, then starts its workloads.
  for (const g of platform.guests) {
    sim.spawn(
      (function* () {
        if (!(yield* g.link.handshake())) return failed.record("handshake-failed");
        const mine = endpoints.get(g.id)!;
        for (const io of mine.values()) if (!(yield* io.setup())) failed.record("setup-failed");
        for (const { spec, impl } of workloads) {
          if (spec.guests !== "all" && !spec.guests.includes(g.name)) continue;
          const io = spec.device === undefined ? mine.values().next().value : mine.get(spec.device);
          if (io === undefined) continue;
          impl.start({
            sim,
            platform,
            guest: g,
            io,
            rng: rng.stream(`workload:${refName(spec.plugin)}:${g.name}`),
            untilNs,
            cpu: 0,
            bus,
            observe: (name, value) => {
              let h = extra.get(name);
              if (h === undefined) extra.set(name, (h = new Histogram()));
              h.record(value);
            },
            figure: (name, value) => figures.set(name, value),
          });
        }
      })(),
      `boot:${g.name}`,
    );
  }

  for (const f of scn.faults) {
    const at = durationNs(f.at);
    if (f.kind === "kill") {
      const id = hv.domainId(f.domain);
      sim.at(at, () => hv.domains[id]!.alive && hv.killDomain(id, "scenario fault"));
    } else {
      sim.at(at, () => platform.broker.crash());
      sim.at(at + durationNs(f.downFor), () => platform.broker.restart());
    }
  }

  for (const o of observers) o.onBoot?.(platform, info);
  if (bus.wants("metric")) startSampler(platform, bus, untilNs);
  hooks.callSync("run:start");
  const finish = (): PathRun => {
    hooks.callSync("run:end");
    const metrics = collect();
    for (const o of observers) o.onResult?.(info, metrics);
    return { metrics, platform, info, events: sim.eventsProcessed };
  };
  const collect = (): PathMetrics => {
    const seconds = untilNs / 1e9;
    const { cpu, vcpus } = cpuFigures(platform, untilNs);
    const hcalls = hv.hcalls.reduce((a, b) => a + b, 0);
    const ldc = hv.channels.reduce((a, c) => a + c.sent, 0);
    let used = 0;
    let frag = 0;
    let faults = 0;
    for (const io of hv.iommus.values()) {
      for (const o of io.entryOwner) if (o >= 0) used++;
      faults += io.faults.reduce((a, b) => a + b, 0);
      frag = Math.max(frag, platform.broker.policyOf(io.devhandle)?.stats().fragmentation ?? 0);
    }
    const per = (n: number) => round(ios > 0 ? n / ios : 0);
    const extraOut: Record<string, number> = { policyErrors: pluginErrors.total };
    Object.assign(extraOut, machineHealth(platform), failed.figures());
    for (const [kind, k] of [...byKind.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      extraOut[`${kind}.gbps`] = round((k.bytes * 8) / untilNs);
      extraOut[`${kind}.iops`] = round(k.ios / seconds, 1);
      extraOut[`${kind}.p50Us`] = round(k.lat.percentile(50) / 1e3, 3);
      extraOut[`${kind}.p99Us`] = round(k.lat.percentile(99) / 1e3, 3);
    }
    for (const [name, h] of [...extra.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      extraOut[`${name}.p50Us`] = round(h.percentile(50) / 1e3, 3);
      extraOut[`${name}.p99Us`] = round(h.percentile(99) / 1e3, 3);
      extraOut[`${name}.count`] = h.count;
    }
    for (const [name, v] of [...figures.entries()].sort(([a], [b]) => (a < b ? -1 : 1)))
      extraOut[name] = v;
    return {
      throughputGbps: round((bytes * 8) / untilNs),
      iops: round(ios / seconds, 1),
      latencyUs: {
        p50: round(lat.percentile(50) / 1e3, 3),
        p99: round(lat.percentile(99) / 1e3, 3),
        p999: round(lat.percentile(99.9) / 1e3, 3),
      },
      cpu,
      vcpus,
      perIo: {
        hypercalls: plan.native ? 0 : per(hcalls),
        ldcMessages: per(ldc),
        iotlbFlushes: per(hv.flushOps),
      },
      dvma: { usedPages: used, fragmentation: round(frag) },
      faults,
      blocked,
      ios,
      errors: failed.total,
      attacks,
      extra: extraOut,
      dvmaMap: [...hv.iommus.values()]
        .sort((a, b) => a.devhandle - b.devhandle)
        .map((io) => ({
          devhandle: io.devhandle,
          windowPages: io.windowPages,
          runs: runLengths(io.entryOwner),
        })),
      ...(pluginErrors.total > 0 ? { pluginErrors: pluginErrors.list() } : {}),
    };
  };
  return { sim, platform, untilNs, finish };
}

/**
 * Figures about the machine's state at run end: IOTLB hit rate, the guests' local-policy
 * fragmentation, and how many safety invariants are violated (always 0 unless something is wrong).
 */
function machineHealth(platform: Platform): Record<string, number> {
  const { hv, broker } = platform;
  let hits = 0;
  let lookups = 0;
  for (const io of hv.iommus.values()) {
    hits += io.iotlb.hits;
    lookups += io.iotlb.hits + io.iotlb.misses;
  }
  const frags = platform.guests.flatMap((g) =>
    [...g.dma.values()].map((d) => d.policyStats().fragmentation ?? 0),
  );
  const localFragmentation = frags.length > 0 ? frags.reduce((a, b) => a + b, 0) / frags.length : 0;
  return {
    ...lockFigures(platform),
    "iotlb.hitRate": round(lookups > 0 ? hits / lookups : 0),
    "dvma.localFragmentation": round(localFragmentation),
    invariantViolations: invariantViolations(
      hv,
      broker.isUp ? broker : undefined,
      platform.dmaApisInUse,
    ).length,
    "dvma.deadOwnedPages": [...hv.iommus.values()].reduce(
      (n, io) => n + io.entryOwner.filter((o) => o >= 0 && !hv.domains[o]!.alive).length,
      0,
    ),
  };
}
