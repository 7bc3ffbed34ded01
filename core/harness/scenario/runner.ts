import { InputError } from "../../input/errors.ts";
import type {
  DeviceFactory,
  DeviceModel,
  GuestIo,
  IoPath,
  Workload,
} from "../../model/domains/io.ts";
import { type GuestOs, Platform } from "../../model/domains/platform.ts";
import type { GlobalPolicyFactory, LocalPolicyFactory } from "../../model/domains/policy.ts";
import { EventBus } from "../../model/events/bus.ts";
import { parseCostModel } from "../../model/machine/parse.ts";
import { type Proc, Simulator } from "../../model/sim/kernel.ts";
import { RngStreams } from "../../model/sim/rng.ts";
import type { AnyPlugin } from "../plugin/define.ts";
import { type CoreHooks, Hooks } from "../plugin/hooks.ts";
import { PluginHost } from "../plugin/host.ts";
import type { PathMetrics } from "../report/report.ts";
import { durationNs, machineOf, type PluginRef, type Scenario } from "./define.ts";
import { PluginErrorLog } from "./failures.ts";
import { PluginBlame } from "./plugin-blame.ts";
import type { RunInfo } from "./run-info.ts";
import { IoMeter } from "./run-meter.ts";
import { runMetrics } from "./run-metrics.ts";
import { samplerPlugin } from "./sampler.ts";

/** An observer plugin to register in a run: alone, with its options, or also with its started service. */
export type ObserverRef =
  | AnyPlugin
  | readonly [AnyPlugin, unknown]
  | readonly [AnyPlugin, unknown, unknown];

/** Plugins loaded for a scenario, by the reference string used in the scenario. */
export type PluginTable = ReadonlyMap<string, AnyPlugin>;

/**
 * A device whose setup failed is set up again after this long. Assumed: no published figure for
 * a deferred probe; long against one I/O's back-off (10 us in the workloads), short against a run.
 */
const SETUP_RETRY_NS = 100_000;

export const refName = (ref: PluginRef): string => (typeof ref === "string" ? ref : ref[0]);
export const refOptions = (ref: PluginRef): unknown =>
  typeof ref === "string" ? undefined : ref[1];

export interface RunOptions {
  /**
   * Observer plugins (trace, live feed, tests), each alone or with its options, registered in
   * this run's own host after the built-in sampler: they watch through `ctx.hooks` and `ctx.bus`.
   */
  observers?: readonly ObserverRef[];
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
  /** The run's hook map (observers tap it in their setup). */
  hooks: Hooks<CoreHooks>;
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

/**
 * Composes one (point, path) run: its own simulator, bus, hook map and plugin host; the
 * policies, the path, the observers, the booted machine, the devices, the workloads and the
 * faults. The clock has not moved; `finish` ends the run. Hooks fire in this order: boot,
 * start, then grant / release / death as they happen, end, result.
 */
export function startPath(
  scn: Scenario,
  pathRef: PluginRef,
  table: PluginTable,
  params: Record<string, unknown>,
  opts: RunOptions = {},
): PathRunState {
  const sim = new Simulator();
  const blame = new PluginBlame(sim);
  const bus = new EventBus(() => sim.now);
  const hooks = new Hooks<CoreHooks>();
  const rng = new RngStreams(scn.seed);
  const untilNs = durationNs(scn.duration);
  const pluginErrors = new PluginErrorLog(() => sim.now, scn.seed);
  const hostOptions = {
    hooks,
    bus,
    rng: (s: string) => rng.stream(s),
    onPolicyError: (e: Parameters<PluginErrorLog["record"]>[0]) => {
      pluginErrors.record(e);
      if (bus.wants("plugin.error"))
        bus.emit("plugin.error", { plugin: e.plugin, hook: e.hook, message: e.message });
    },
  };
  const host = new PluginHost(hostOptions);
  const globalPolicy = host.use(
    plugin(table, scn.policies.global, "policy.global") as never,
    refOptions(scn.policies.global),
  ) as GlobalPolicyFactory;
  const localPolicy = host.use(
    plugin(table, scn.policies.local, "policy.local") as never,
    refOptions(scn.policies.local),
  ) as LocalPolicyFactory;
  const path = blame.path(
    refName(pathRef),
    host.use(plugin(table, pathRef, "path") as never, refOptions(pathRef)) as IoPath,
  );

  const md = machineOf(scn);
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
  // From here on plugins know their run (ctx.run); observers subscribe to the bus before boot.
  host.enterRun({ info, sim, untilNs });
  for (const ref of [samplerPlugin, ...(opts.observers ?? [])]) {
    const [o, options, service] = Array.isArray(ref) ? ref : [ref as AnyPlugin];
    if (o.kind !== "observer")
      throw new InputError(`plugin "${o.name}" is a ${o.kind} plugin; an observer is needed here`);
    host.use(o as never, options, undefined, service);
  }

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
      factory = blame.device(
        refName(ref),
        host.use(plugin(table, ref, "device") as never, refOptions(ref)) as DeviceFactory,
      );
      factories.set(kind, factory);
    }
    const port = platform.devicePort(dev.id);
    models.set(
      dev.desc.name,
      factory({
        sim,
        port,
        desc: dev.desc,
        cost,
        rng: rng.stream(`device:${dev.desc.name}`),
        cpu: platform.cpus[dev.domain]!,
      }),
    );
  }

  // Every I/O a workload completes is counted by the meter.
  const meter = new IoMeter(bus, path.name);

  // Endpoints: each guest's devices as the scenario's machine assigns them (before the path's plan).
  const endpoints = new Map<number, Map<string, GuestIo>>();
  const devicesOf = new Map<string, (typeof md.devices)[number][]>();
  for (const d of md.devices) {
    if (!devicesOf.has(d.domain)) devicesOf.set(d.domain, []);
    devicesOf.get(d.domain)!.push(d);
  }
  for (const g of platform.guests) {
    const mine = new Map<string, GuestIo>();
    for (const d of devicesOf.get(g.name) ?? []) {
      const device = models.get(d.name)!;
      const env = { platform, guest: g, device, cost, bus };
      mine.set(
        d.kind,
        meter.wrap(path.connect({ ...env, rng: rng.stream(`path:${g.name}:${d.name}`) })),
      );
    }
    endpoints.set(g.id, mine);
  }

  // The same workload plugin may appear several times with other options: one instance each.
  const workloads = scn.workloads.map((w, i) => ({
    spec: w,
    impl: blame.workload(
      refName(w.plugin),
      host.use(
        plugin(table, w.plugin, "workload") as never,
        refOptions(w.plugin),
        scn.workloads.findIndex((x) => refName(x.plugin) === refName(w.plugin)) === i
          ? undefined
          : `${refName(w.plugin)}#${i}`,
      ) as Workload,
    ),
  }));

  // Boot: each guest shakes hands with the broker, sets up its endpoints, then starts its workloads.
  const { failed } = meter;
  /** Starts `g`'s workloads on the endpoints `ready` accepts, in the scenario's order. */
  const startOn = (g: GuestOs, ready: (io: GuestIo) => boolean): void => {
    const mine = endpoints.get(g.id)!;
    for (const { spec, impl } of workloads) {
      if (spec.guests !== "all" && !spec.guests.includes(g.name)) continue;
      const io = spec.device === undefined ? mine.values().next().value : mine.get(spec.device);
      if (io === undefined || !ready(io)) continue;
      impl.start({
        sim,
        platform,
        guest: g,
        io,
        rng: rng.stream(`workload:${refName(spec.plugin)}:${g.name}`),
        untilNs,
        cpu: 0,
        bus,
        observe: (name, value) => meter.observe(name, value),
        figure: (name, value) => meter.figure(name, value),
        moment: (name, m) => meter.moments.set(name, m),
      });
    }
  };
  // A device whose setup failed (its rings could not be mapped) is not driven, so nothing DMAs
  // through a ring that was never mapped. Its driver tries again after a back-off (a deferred
  // probe), each failure counted, and the device's workloads start once it is up.
  function* retrySetup(g: GuestOs, io: GuestIo): Proc<void> {
    for (;;) {
      yield SETUP_RETRY_NS;
      if (sim.now >= untilNs || !platform.hv.domains[g.id]!.alive) return;
      if (yield* io.setup()) return startOn(g, (x) => x === io);
      failed.record("setup-failed");
    }
  }
  for (const g of platform.guests) {
    sim.spawn(
      (function* () {
        if (!(yield* g.link.handshake())) return failed.record("handshake-failed");
        const down = new Set<GuestIo>();
        for (const io of endpoints.get(g.id)!.values())
          if (!(yield* io.setup())) {
            failed.record("setup-failed");
            down.add(io);
          }
        startOn(g, (io) => !down.has(io));
        for (const io of down) sim.spawn(retrySetup(g, io), `setup:${g.name}`);
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

  hooks.callSync("boot", platform);
  fireModelHooks(hooks, bus, platform);
  hooks.callSync("start");
  const finish = (): PathRun => {
    hooks.callSync("end");
    const metrics = runMetrics(platform, meter, pluginErrors, untilNs, plan.native);
    hooks.callSync("result", metrics);
    return { metrics, platform, info, events: sim.eventsProcessed };
  };
  return { sim, platform, untilNs, hooks, finish };
}

/**
 * Fires grant, release and death from what the model reports, for the hooks someone tapped
 * (an untapped hook costs nothing: its event kinds stay unobserved).
 */
function fireModelHooks(hooks: Hooks<CoreHooks>, bus: EventBus, platform: Platform): void {
  const { hv } = platform;
  if (hooks.has("grant"))
    bus.on("dvma.grant", (e) => hooks.callSync("grant", e.domain, e.devhandle, e.base, e.npages));
  if (hooks.has("release")) {
    bus.on("dvma.release", (e) =>
      hooks.callSync("release", e.domain, e.devhandle, e.base, e.npages),
    );
  }
  if (hooks.has("death")) hv.onDeath((domain, reason) => hooks.callSync("death", domain, reason));
}
