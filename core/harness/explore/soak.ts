/**
 * Soak: machine after machine (an "epoch" is one boot), four guests doing DMA as fast as they
 * can while faults strike at random (a guest dies, the broker crashes and restarts, LDC packets
 * are lost), the safety invariants checked every few simulated microseconds. Each epoch ends with
 * the survivors giving everything back and exiting; then all DVMA must be free and no TTE left.
 * A guest that dies stays dead (the model has no reboot), hence many boots rather than one.
 */
import { isDmaFailure } from "../../model/domains/guest-dma-types.ts";
import { invariantViolations } from "../../model/domains/invariants.ts";
import { type GuestOs, Platform } from "../../model/domains/platform.ts";
import { quiescentViolations } from "../../model/hv/invariants.ts";
import type { MachineDescription } from "../../model/machine/description.ts";
import { PAGE_SIZE } from "../../model/machine/memory.ts";
import { parseCostModel, parseMachine } from "../../model/machine/parse.ts";
import type { Proc } from "../../model/sim/kernel.ts";
import { type Rng, RngStreams } from "../../model/sim/rng.ts";
import type { PolicyMaker } from "./world.ts";

export interface SoakOptions {
  /** Stop once this many kernel events have run (summed over epochs). */
  events: number;
  /** Simulated time per epoch. */
  epochNs: number;
  seed: number;
  policies: PolicyMaker;
  /** Simulated time between invariant checks. */
  checkEveryNs: number;
  /** Called after each epoch (e.g. to sample memory). */
  onEpoch?: (e: EpochResult) => void;
  /** Asked between epochs: true ends the soak early (its summary says so). */
  stop?: () => boolean;
}

export interface EpochResult {
  epoch: number;
  seed: number;
  events: number;
  maps: number;
  deaths: number;
  restarts: number;
  lost: number;
  checks: number;
  /**
   * Pages the broker still grants to a surviving guest after it gave everything back: grants
   * whose reply never reached it (they return when the guest exits). Counted, not a violation.
   */
  strandedPages: number;
  /** Violations found (empty when all held); names the epoch's seed and simulated time. */
  violations: string[];
}

const GUESTS = ["g1", "g2", "g3", "g4"];
const LANES = 4;
const WINDOW_PAGES = 2048;

let machine: MachineDescription | undefined;
function soakMachine(): MachineDescription {
  machine ??= parseMachine({
    rootComplexes: [
      {
        devhandle: 0x200,
        virtualDma: { base: 0x8000_0000, size: WINDOW_PAGES * PAGE_SIZE },
        iotlb: { sets: 16, ways: 4 },
      },
    ],
    domains: [
      { name: "primary", role: "control", memoryMiB: 64, strands: 4 },
      ...GUESTS.map((name) => ({ name, memoryMiB: 64, strands: LANES })),
    ],
    devices: GUESTS.map((domain, i) => ({
      name: `dev${i + 1}`,
      devhandle: 0x200,
      requesterId: 0x100 + i * 8,
      domain,
    })),
  });
  return machine;
}

/** One boot: traffic and random faults for `epochNs`, then the survivors exit. */
export function soakEpoch(epoch: number, opts: SoakOptions): EpochResult {
  const seed = opts.seed + epoch;
  const streams = new RngStreams(seed);
  const rng = streams.stream("faults");
  const perMap = epoch % 2 === 1;
  const platform = new Platform({
    md: soakMachine(),
    // Timeouts short enough that a lost packet is resent within the epoch.
    cost: parseCostModel({ ldcTimeoutNs: 100_000 }),
    seed,
    ...opts.policies(),
    guestDma: {
      acquire: perMap ? "per-map" : "lease",
      leasePages: 64,
      unmap: epoch % 4 < 2 ? "strict" : "deferred",
      deferredMaxNs: 50_000,
    },
    ldc: { lossRate: 0.01 },
  });
  const { sim, hv, broker } = platform;
  const r: EpochResult = {
    epoch,
    seed,
    events: 0,
    maps: 0,
    deaths: 0,
    restarts: 0,
    lost: 0,
    checks: 0,
    strandedPages: 0,
    violations: [],
  };
  const end = opts.epochNs;
  const fail = (what: string[]) => {
    if (r.violations.length > 0) return;
    r.violations = what.map((v) => `epoch ${epoch} (seed ${seed}) t=${sim.now}ns: ${v}`);
    sim.stop();
  };
  const ports = hv.devices.map((d) => platform.devicePort(d.id));

  function* lane(g: GuestOs, cpu: number, lrng: Rng): Proc<void> {
    const dma = [...g.dma.values()][0]!;
    const port = ports[g.id - 1]!;
    const ra = g.memory.alloc(8);
    while (sim.now < end && hv.domains[g.id]!.alive) {
      const len = lrng.int(1, 8 * PAGE_SIZE - PAGE_SIZE);
      const off = lrng.int(0, PAGE_SIZE);
      const toDevice = lrng.chance(0.5);
      const m = yield* dma.mapSingle(ra + off, len, toDevice ? "to-device" : "from-device", cpu);
      if (isDmaFailure(m)) {
        yield 10_000; // back off: a failure may take no time
        continue;
      }
      r.maps++;
      yield* port.dma(m.dvma, Math.min(len, 4096), !toDevice, 0);
      yield* dma.unmapSingle(m, cpu);
    }
  }
  for (const g of platform.guests)
    for (let i = 0; i < LANES; i++)
      sim.spawn(lane(g, i, streams.stream(`lane/${g.name}/${i}`)), `lane:${g.name}:${i}`);

  // Faults: one guest dies somewhere in the middle; the broker crashes two or three times.
  const victim = platform.guests[rng.int(0, GUESTS.length)]!;
  sim.at(rng.int(Math.floor(end / 4), Math.floor((3 * end) / 4)), () => {
    r.deaths++;
    hv.killDomain(victim.id, "soak fault");
  });
  const crashes = rng.int(2, 4);
  for (let c = 0; c < crashes; c++) {
    const at = rng.int(
      Math.floor((c * end) / crashes),
      Math.floor(((c + 1) * end) / crashes) - 300_000,
    );
    sim.at(at, () => broker.crash());
    sim.at(at + rng.int(50_000, 250_000), () => {
      r.restarts++;
      broker.restart();
    });
  }
  sim.spawn(
    (function* checker(): Proc<void> {
      while (sim.now < end) {
        yield opts.checkEveryNs;
        r.checks++;
        const bad = invariantViolations(hv, broker.isUp ? broker : undefined);
        if (bad.length > 0) fail(bad);
      }
    })(),
    "checker",
  );
  sim.run(end);
  // Settle: lanes finish their last mapping, survivors flush and give their leases back.
  if (r.violations.length === 0) {
    sim.run();
    for (const g of platform.guests) {
      if (!hv.domains[g.id]!.alive) continue;
      const dma = [...g.dma.values()][0]!;
      sim.spawn(dma.releaseIdleLeases(), `release:${g.name}`);
    }
    sim.run();
    const bad = invariantViolations(hv, broker);
    for (const g of platform.guests) {
      if (!hv.domains[g.id]!.alive) continue;
      r.strandedPages += broker.grantsOf(g.id, 0x200).reduce((n, x) => n + x.npages, 0);
      hv.killDomain(g.id, "exit");
    }
    bad.push(...quiescentViolations(hv), ...invariantViolations(hv, broker));
    if (bad.length > 0) fail(bad);
  }
  r.events = sim.eventsProcessed;
  r.lost = hv.channels.reduce((n, c) => n + c.dropped, 0);
  return r;
}

export interface SoakSummary {
  epochs: number;
  events: number;
  maps: number;
  deaths: number;
  restarts: number;
  lost: number;
  checks: number;
  strandedPages: number;
  /** Boots that ended with stranded pages, and the first of them. */
  strandedBoots: number;
  firstStranded: string;
  violations: string[];
}

/**
 * Epochs until `opts.events` kernel events have run, a violation is found or `opts.stop` says so;
 * between epochs it yields to the event loop, so a signal handler can ask it to stop.
 */
export async function soak(opts: SoakOptions): Promise<SoakSummary> {
  const s: SoakSummary = {
    epochs: 0,
    events: 0,
    maps: 0,
    deaths: 0,
    restarts: 0,
    lost: 0,
    checks: 0,
    strandedPages: 0,
    strandedBoots: 0,
    firstStranded: "",
    violations: [],
  };
  while (s.events < opts.events && s.violations.length === 0) {
    await new Promise((resolve) => setImmediate(resolve));
    if (opts.stop?.()) break;
    const e = soakEpoch(s.epochs, opts);
    s.epochs++;
    s.events += e.events;
    s.maps += e.maps;
    s.deaths += e.deaths;
    s.restarts += e.restarts;
    s.lost += e.lost;
    s.checks += e.checks;
    s.strandedPages += e.strandedPages;
    if (e.strandedPages > 0 && s.strandedBoots++ === 0)
      s.firstStranded = `boot ${e.epoch} (seed ${e.seed}, ${e.events} events)`;
    s.violations = e.violations;
    opts.onEpoch?.(e);
  }
  return s;
}
