import { isDmaFailure } from "../../model/domains/guest-dma-types.ts";
import { invariantViolations } from "../../model/domains/invariants.ts";
import { type GuestOs, Platform, type PlatformConfig } from "../../model/domains/platform.ts";
import { labelPacket } from "../../model/domains/protocol.ts";
import { EventBus } from "../../model/events/bus.ts";
import { quiescentViolations } from "../../model/hv/invariants.ts";
import type { CostModel } from "../../model/machine/cost-model.ts";
import type { MachineDescription } from "../../model/machine/description.ts";
import { PAGE_SIZE } from "../../model/machine/memory.ts";
import { parseCostModel, parseMachine } from "../../model/machine/parse.ts";
import type { Proc, Process } from "../../model/sim/kernel.ts";
import { InFlight } from "./in-flight.ts";
import { globalPolicyKey, type KeyWriter, policyKey, writePending } from "./key-parts.ts";
import { BROKER, type Fault } from "./reduce.ts";
import { type GuestSwap, writeSessions } from "./symmetry.ts";

/** How much of each nondeterministic thing one schedule may contain. */
export interface ExploreBounds {
  /** DVMA window entries (the broker's global window). */
  windowPages: number;
  /** Mappings each guest makes (map, then unmap), before it gives its leases back. */
  maps: number;
  /** Pages a guest leases at a time. */
  leasePages: number;
  /** LDC packets the schedule may lose. */
  losses: number;
  /** LDC packets the schedule may duplicate. */
  duplicates: number;
  /** LDC packets the schedule may deliver late (after their sender's timeout). */
  delays: number;
  /** Guest deaths. */
  deaths: number;
  /** Broker crash-and-restart cycles. */
  restarts: number;
  /** Stale resends: a guest's last DVMA request, already answered and taken, sent again. */
  stale: number;
  /** Resends after a timeout (the cost model's ldcRetries). */
  retries: number;
  /** Faults of any kind above (losses to stale resends) one schedule may contain in all. */
  faults: number;
}

export const DEFAULT_BOUNDS: ExploreBounds = {
  windowPages: 32,
  maps: 1,
  leasePages: 4,
  losses: 1,
  duplicates: 1,
  delays: 1,
  deaths: 1,
  restarts: 1,
  stale: 0,
  retries: 1,
  faults: 2,
};

/** The policies a world boots with: fresh per boot, already wrapped by the host's checks. */
export type PolicyMaker = () => Pick<PlatformConfig, "globalPolicy" | "localPolicy">;

/** Draws one choice among `n` options (0 = the default, FIFO one); `what` names the choice point. */
export type Choose = (n: number, what: string) => number;

const GUESTS = ["g1", "g2"];

const costs = new Map<number, CostModel>();
function costFor(retries: number): CostModel {
  let c = costs.get(retries);
  if (c === undefined) costs.set(retries, (c = parseCostModel({ ldcRetries: retries })));
  return c;
}

/** The explored machine: control domain and two guests, one device each on one root complex. */
const machines = new Map<number, MachineDescription>();
function machineFor(windowPages: number): MachineDescription {
  let md = machines.get(windowPages);
  if (md === undefined) {
    md = parseMachine({
      rootComplexes: [
        {
          devhandle: 0x200,
          virtualDma: { base: 0x8000_0000, size: windowPages * PAGE_SIZE },
          iotlb: { sets: 2, ways: 2 },
        },
      ],
      domains: [
        { name: "primary", role: "control", memoryMiB: 8, strands: 1 },
        ...GUESTS.map((name) => ({ name, memoryMiB: 8, strands: 1 })),
      ],
      devices: GUESTS.map((domain, i) => ({
        name: `dev${i + 1}`,
        devhandle: 0x200,
        requesterId: 0x100 + i * 8,
        domain,
      })),
    });
    machines.set(windowPages, md);
  }
  return md;
}

/**
 * One booted machine under exploration: 2 guests on one root complex, each running a short
 * map/unmap sequence with the default timings. `choose` steers an LDC fate hook (loss,
 * duplication, late delivery); the explorer offers the faults (guest death, broker crash and
 * restart) before every event.
 */
export class ExploreWorld {
  readonly platform: Platform;
  private readonly progress: string[] = GUESTS.map(() => "start");
  private readonly inFlight: InFlight;
  private losses: number;
  private duplicates: number;
  private delays: number;
  private deaths: number;
  private restarts: number;
  private stale: number;
  private faults: number;
  /** Each guest's last DVMA request as sent (what a stale resend sends again), or null. */
  private readonly lastRequest: (Uint8Array | null)[] = GUESTS.map(() => null);
  /** Their hashes (what the state key reads). */
  private readonly lastRequestHash: (bigint | null)[] = GUESTS.map(() => null);
  /** When the broker crashed (it must be back by then + downMaxNs), or -1 while it is up. */
  private downSince = -1;
  /**
   * Fairness: a crashed broker restarts within this long. Guests resend releases and chase
   * given-up requests for as long as they live, so a broker that never came back would make a
   * schedule that never ends; every earlier restart instant is still a choice. Long enough for a
   * guest to give up a request (all its retries time out) before the broker is back.
   */
  readonly downMaxNs: number;
  /** Each guest's workload process, in GUESTS order. */
  readonly workloads: Process<void>[] = [];

  constructor(
    readonly bounds: ExploreBounds,
    policies: PolicyMaker,
    private readonly choose: Choose,
  ) {
    this.losses = bounds.losses;
    this.duplicates = bounds.duplicates;
    this.delays = bounds.delays;
    this.deaths = bounds.deaths;
    this.restarts = bounds.restarts;
    this.stale = bounds.stale;
    this.faults = bounds.faults;
    const md = machineFor(bounds.windowPages);
    const bus = new EventBus(() => 0);
    const cost = costFor(bounds.retries);
    this.downMaxNs = (bounds.retries + 2) * 2 * cost.ldcTimeoutNs;
    this.platform = new Platform({
      md,
      cost,
      seed: 1,
      ...policies(),
      guestDma: { acquire: "lease", leasePages: bounds.leasePages, unmap: "strict" },
      ldc: { fate: (channel, pkt, from) => this.fate(channel, pkt, from) },
      bus,
    });
    this.inFlight = new InFlight(
      bus,
      this.platform.guests.map((g) => g.channel.id),
    );
    const { sim } = this.platform;
    for (const [i, g] of this.platform.guests.entries()) {
      this.workloads.push(sim.spawn(this.workload(i, g), `guest-${g.name}`));
      this.kills.push({
        name: `kill ${g.name}`,
        dependsOn: [g.name, BROKER], // its own events; the broker's (which reclaims)
        run: () => {
          this.deaths--;
          this.faults--;
          this.platform.hv.killDomain(g.id, "explored death");
        },
      });
    }
  }

  /** The LDC fate hook: deliver, or (within budget) lose, duplicate or deliver late. */
  fate(channel: number, pkt: Uint8Array, from: number): 0 | 1 | 2 | 3 {
    const options: (0 | 1 | 2 | 3)[] = [1];
    if (this.faults > 0) {
      if (this.losses > 0) options.push(0);
      if (this.duplicates > 0) options.push(2);
      if (this.delays > 0) options.push(3);
    }
    const { msg, id } = labelPacket(pkt);
    const g = this.platform?.guests.findIndex((x) => x.id === from) ?? -1;
    if (g >= 0 && msg === "DVMA_REQ") {
      this.lastRequest[g] = pkt.slice();
      this.lastRequestHash[g] = Bun.hash.wyhash(pkt);
    }
    const c = options[options.length === 1 ? 0 : this.choose(options.length, `fate ${msg}#${id}`)]!;
    if (c !== 1) this.faults--;
    if (c === 0) this.losses--;
    if (c === 2) this.duplicates--;
    if (c === 3) this.delays--;
    this.inFlight.sent(channel, from, msg, id, pkt, c === 2 ? 2 : c === 0 ? 0 : 1);
    return c;
  }

  private *workload(i: number, g: GuestOs): Proc<void> {
    const dma = [...g.dma.values()][0]!;
    this.progress[i] = "handshake";
    if (!(yield* g.link.handshake())) {
      this.progress[i] = "no-version";
      return;
    }
    for (let k = 0; k < this.bounds.maps; k++) {
      const ra = g.memory.alloc(1);
      this.progress[i] = `map${k}`;
      const m = yield* dma.mapSingle(ra, PAGE_SIZE, k % 2 === 0 ? "from-device" : "to-device");
      if (isDmaFailure(m)) {
        this.progress[i] = `map${k}:${m.error}`;
        continue;
      }
      this.progress[i] = `unmap${k}`;
      yield* dma.unmapSingle(m);
    }
    this.progress[i] = "release";
    yield* dma.releaseIdleLeases();
    this.progress[i] = "done";
  }

  /** The faults that are made once (asked before every event, they are not made per call). */
  private readonly kills: Fault[] = [];
  private readonly crash: Fault = {
    name: "crash broker",
    dependsOn: [BROKER],
    run: () => {
      this.restarts--;
      this.faults--;
      this.downSince = this.platform.sim.now;
      this.platform.broker.crash();
    },
  };
  private readonly restart: Fault = {
    name: "restart broker",
    dependsOn: [BROKER],
    run: () => this.restartBroker(),
  };

  /** The faults the budget still allows now: each a name, what it depends on, what it does. */
  faultOptions(): Fault[] {
    const { hv, broker, guests } = this.platform;
    const out: Fault[] = [];
    // A restart is not a fault (a crashed broker comes back within downMaxNs whatever the budget).
    const fault = this.faults > 0;
    if (fault && this.deaths > 0)
      for (let i = 0; i < guests.length; i++)
        if (hv.domains[guests[i]!.id]!.alive) out.push(this.kills[i]!);
    if (fault && broker.isUp && this.restarts > 0) out.push(this.crash);
    if (!broker.isUp) out.push(this.restart);
    if (fault && this.stale > 0)
      for (const [i, g] of this.platform.guests.entries()) {
        const pkt = this.lastRequest[i];
        if (pkt === null || !hv.domains[g.id]!.alive) continue;
        const { id } = labelPacket(pkt);
        // Only once the guest took its answer: a resend while it still waits is the normal retry.
        if (!(g.link as unknown as { accepted: Map<number, number> }).accepted.has(id)) continue;
        out.push({
          name: `stale resend ${g.name} DVMA_REQ#${id}`,
          dependsOn: null, // a send: its arrival time is its instant's, so it is never moved
          run: () => {
            this.stale--;
            this.faults--;
            g.channel.send(g.id, pkt);
          },
        });
      }
    return out;
  }

  private restartBroker(): void {
    this.downSince = -1;
    this.platform.broker.restart();
  }

  /** Restarts a broker that has been down for downMaxNs (not a choice); true when it did. */
  restartOverdue(): boolean {
    if (this.downSince < 0 || this.platform.sim.now < this.downSince + this.downMaxNs) return false;
    this.restartBroker();
    return true;
  }

  /** At the end of a schedule a crashed broker comes back (the quiescent checks need its ledger). */
  settle(): boolean {
    if (this.platform.broker.isUp) return false;
    this.restartBroker();
    return true;
  }

  /** Safety invariants that must hold in every state. */
  violations(): string[] {
    return invariantViolations(this.platform.hv, this.platform.broker);
  }

  /**
   * Once nothing is pending: every workload finished, no live guest's grants exceed what its
   * leases account for, and after every guest exits all DVMA is free, no TTE is left and the
   * ledger equals the ownership table.
   */
  quiescentViolations(): string[] {
    const { hv, broker, guests } = this.platform;
    const out: string[] = [];
    for (const [i, w] of this.workloads.entries())
      if (!w.finished) out.push(`guest ${GUESTS[i]} is stuck at ${this.progress[i]}`);
    for (const g of guests) {
      if (!hv.domains[g.id]!.alive) continue;
      const dh = [...g.dma.keys()][0]!;
      const leased = [...g.dma.values()][0]!.heldLeases.reduce((n, l) => n + l.npages, 0);
      const granted = broker.grantsOf(g.id, dh).reduce((n, r) => n + r.npages, 0);
      if (granted !== leased)
        out.push(`${g.name}: broker grants ${granted} pages, its leases hold ${leased}`);
    }
    out.push(...invariantViolations(hv, broker));
    for (const g of guests) if (hv.domains[g.id]!.alive) hv.killDomain(g.id, "exit");
    out.push(...quiescentViolations(hv));
    out.push(...invariantViolations(hv, broker));
    return out;
  }

  /**
   * What is left of each fault budget, and of the time a crashed broker may stay down (0 while it
   * is up). More of any only adds options (a fault is an option while its budget lasts; a restart
   * is an option at every instant until the deadline forces it), so a state whose key was seen
   * with at least as much of each has nothing new to show.
   */
  budgets(): number[] {
    const now = this.platform.sim.now;
    const down = this.downSince < 0 ? 0 : this.downSince + this.downMaxNs - now;
    return [
      this.losses,
      this.duplicates,
      this.delays,
      this.deaths,
      this.restarts,
      this.stale,
      this.faults,
      down,
    ];
  }

  /**
   * Writes everything else the future of this world depends on that can be read from outside, as
   * this world holds it or (with `swap`) as the world with the two guests swapped would.
   * `pending`: the explorer's events, PENDING_WIDTH numbers each (key-parts.ts), in any order.
   */
  writeKey(w: KeyWriter, pending: readonly number[], swap: GuestSwap | null): void {
    const { hv, broker, guests } = this.platform;
    const now = this.platform.sim.now;
    // Not the time itself: the future depends on times relative to now (pending events,
    // arrivals), so one state reached at two times is one state. The fault budgets and the
    // broker's restart deadline are not here either: see budgets().
    writePending(w, pending, swap);
    const order = swap === null ? [0, 1] : swap.order;
    w.list(order.length);
    for (const i of order) w.str(this.progress[i]!);
    w.raw(broker.isUp ? 1 : 0);
    for (const i of order) {
      const h = this.lastRequestHash[i]!;
      if (h === null) w.raw(-1);
      else w.hash64(h);
    }
    for (const io of hv.iommus.values()) {
      const owner = io.entryOwner;
      w.list(owner.length);
      for (let i = 0; i < owner.length; i++)
        w.raw(swap === null || owner[i]! < 0 ? owner[i]! : swap.dom(owner[i]!));
      const { iotsb } = io;
      for (let i = 0; i < io.windowPages; i++)
        if (iotsb.isValid(i)) {
          w.raw(i);
          w.raw(swap === null ? iotsb.pa[i]! : swap.page(iotsb.pa[i]!));
        }
      w.value(io.iotlb.cachedIndices());
    }
    for (const i of order) {
      const g = guests[i]!;
      w.raw(hv.domains[g.id]!.alive ? 1 : 0);
      for (const [dh, dma] of g.dma) {
        w.value(broker.grantsOf(g.id, dh));
        w.value(dma.heldLeases);
        policyKey(w, dma.accounting.policy);
      }
      this.inFlight.write(w, g.channel.id, swap);
      w.fields(g.link, ["pending", "accepted", "held", "chasing", "nextId"]);
      w.fields(g.channel, ["inFlight", "epoch", "down"]);
      const arrivals = (g.channel as unknown as { lastArrival: number[] }).lastArrival;
      for (const t of arrivals) w.num(Math.max(0, t - now));
    }
    w.list(2);
    writeSessions(w, broker, swap);
    w.value((broker as unknown as { loose: number }).loose);
    w.num(this.platform.controlCpu.backlog);
    for (const io of hv.iommus.values()) globalPolicyKey(w, broker, io.devhandle, swap);
  }
}
