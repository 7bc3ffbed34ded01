/**
 * adversary: a malicious guest. It never asks for I/O; it attacks the DVMA of the other guests
 * through the raw hypercall ABI, its LDC channel and its own device's DMA engine, and reports
 * every attempt as an `attack` event (blocked = isolation held). The attacker may know any
 * address (it reads the hypervisor's tables to aim); the question is whether the system stops it.
 *
 * Attacks take turns, one every `intervalNs`, until each was tried `rounds` times. An attempt
 * that finds no target at that moment (no victim entry yet) is skipped and not counted.
 */

import {
  DMA_FAULT_NAMES,
  definePlugin,
  encode,
  FN,
  type GuestDmaApi,
  HV,
  type Hypervisor,
  hypercall,
  IO_ATTR_READ,
  IO_ATTR_WRITE,
  type Iommu,
  isDmaFailure,
  Msg,
  message,
  PAGE_SIZE,
  type Proc,
  RA_BASE,
  statusName,
  Type,
  tsbid,
  type Workload,
  type WorkloadEnv,
} from "../../core/index.ts";

const options = Type.Object(
  {
    rounds: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      default: 50,
      description: "tries of each attack",
    }),
    intervalNs: Type.Integer({
      minimum: 1,
      default: 20_000,
      description: "time between two attempts (the attacks take turns)",
    }),
  },
  { additionalProperties: false },
);

export const ATTACKS = [
  "map-foreign-dvma",
  "demap-foreign-dvma",
  "getmap-foreign",
  "map-outside-window",
  "map-bogus-ra",
  "bogus-page-list",
  "grant-self",
  "rogue-dma-write",
  "rogue-dma-read",
  "stale-dma",
  "ldc-forged-release",
] as const;
type AttackName = (typeof ATTACKS)[number];

interface Outcome {
  blocked: boolean;
  detail: string;
}

/** Candidate entries collected per scan of the window before one is picked at random. */
const CANDIDATES = 64;
/** What a rogue write leaves in a page, recognisable in memory dumps. */
const ROGUE_TAG = 0xbad0_0000;
/** Forged packets carry ids far above the guest's own requests, so no cached reply is replayed. */
const FORGED_ID_BASE = 0x8000_0000;
/** Wait before checking a forged release: about ten LDC round trips (~10 µs each by default). */
const RELEASE_CHECK_NS = 100_000;
const RW = BigInt(IO_ATTR_READ | IO_ATTR_WRITE);
const hex = (x: number | bigint) => `0x${x.toString(16)}`;

type Ranges = readonly { base: number; npages: number }[];
const covers = (rs: Ranges, base: number, npages: number) =>
  rs.some((r) => r.base <= base && base + npages <= r.base + r.npages);

class Attacker {
  private readonly me: number;
  private readonly hv: Hypervisor;
  private readonly io: Iommu;
  private readonly dh: number;
  /** The attacker's page list (a page of its own memory), a page it maps, a page it unmaps. */
  private readonly listRa: number;
  private readonly list: Float64Array;
  private readonly ownRa: number;
  private readonly staleRa: number;
  private readonly memEnd: number;
  private readonly readOut = new Uint32Array(1);
  private forged = 0;

  constructor(
    private readonly env: WorkloadEnv,
    private readonly dma: GuestDmaApi,
  ) {
    this.me = env.guest.id;
    this.hv = env.platform.hv;
    this.dh = env.io.device.port.devhandle;
    this.io = this.hv.iommus.get(this.dh)!;
    const mem = env.guest.memory;
    [this.listRa, this.ownRa, this.staleRa] = [mem.alloc(1), mem.alloc(1), mem.alloc(1)];
    const space = this.hv.domains[this.me]!.mem;
    this.list = this.hv.memory.words(space.paPageOf(this.listRa));
    this.memEnd = RA_BASE + space.bytes;
  }

  /** Negotiates a lease the normal way and keeps one page mapped in it: entries of its own. */
  *lease(): Proc<void> {
    yield* this.dma.mapSingle(this.ownRa, PAGE_SIZE, "bidirectional");
  }

  /** One try of `name` (its `k`-th), or null when it has no target now. */
  *attempt(name: AttackName, k: number): Proc<Outcome | null> {
    const dh = BigInt(this.dh);
    switch (name) {
      case "map-foreign-dvma":
        return yield* this.onVictim((v) => this.map(v, this.ownRa), [HV.ENOACCESS]);
      case "demap-foreign-dvma":
        return yield* this.onVictim(
          (v) => this.hc(FN.PCI_IOMMU_DEMAP, dh, tsbid(0, v), 1n),
          [HV.ENOACCESS],
        );
      case "getmap-foreign":
        return yield* this.getmap();
      case "map-outside-window": {
        const index = this.env.rng.int(this.io.windowPages, 2 ** 32);
        return this.verdict(yield* this.map(index, this.ownRa), [HV.EINVAL], `entry ${index}`);
      }
      case "map-bogus-ra":
        return yield* this.onOwn((own) => {
          // A victim's RA would not do: RAs are per domain, so it would name the attacker's own
          // page. Instead: just past its memory (a neighbour's pages if RA were PA), RA 0 (the
          // hypervisor's pages), a huge RA.
          const ra = [this.memEnd, 0, 2 ** 50][k % 3]!;
          return [this.map(own, ra), [HV.ENORADDR], `RA ${hex(ra)}`];
        });
      case "bogus-page-list":
        return yield* this.onOwn((own) => {
          const at = [BigInt(this.memEnd), BigInt(this.listRa + 4), 1n << 63n][k % 3]!;
          return [this.map(own, this.ownRa, at), [HV.ENORADDR, HV.EBADALIGN], `list ${hex(at)}`];
        });
      case "grant-self": {
        const f = this.freeEntry();
        if (f < 0) return null;
        const base = BigInt(this.io.windowBase + f * PAGE_SIZE);
        const st = yield* this.hc(FN.DVMA_GRANT, BigInt(this.me), dh, base, 1n);
        return this.verdict(st, [HV.ENOACCESS], `free entry ${f}`);
      }
      case "rogue-dma-write":
      case "rogue-dma-read":
        return yield* this.rogueDma(name === "rogue-dma-write");
      case "stale-dma":
        return yield* this.staleDma();
      case "ldc-forged-release":
        return yield* this.forgedRelease();
    }
  }

  // ---- hypercalls ----

  /** One trap through the raw ABI; the attacker's CPU spends its cost. */
  private *hc(fn: number, a0: bigint, a1: bigint, a2 = 0n, a3 = 0n, a4 = 0n): Proc<number> {
    const cpu = this.env.guest.cpu;
    const v = yield* cpu.take(this.env.cpu);
    const { status } = hypercall(this.hv, this.me, BigInt(fn), a0, a1, a2, a3, a4);
    yield this.hv.lastCostNs;
    cpu.free(v);
    return status;
  }

  /** pci_iommu_map of one entry, with a page list at `listRa` naming `ra`. */
  private map(index: number, ra: number, listRa = BigInt(this.listRa)): Proc<number> {
    this.list[0] = ra;
    return this.hc(FN.PCI_IOMMU_MAP, BigInt(this.dh), tsbid(0, index), 1n, RW, listRa);
  }

  private verdict(status: number, blockedBy: readonly number[], target: string): Outcome {
    return { blocked: blockedBy.includes(status), detail: `${target}: ${statusName(status)}` };
  }

  /** A hypercall on a victim's entry (a mapped one when there is one). */
  private *onVictim(
    call: (index: number) => Proc<number>,
    blockedBy: readonly number[],
  ): Proc<Outcome | null> {
    const v = this.victimEntry("any");
    if (v < 0) return null;
    return this.verdict(yield* call(v), blockedBy, this.describe(v));
  }

  /** Reads a victim's TTE: any answer but a refusal leaks where the victim's page is. */
  private *getmap(): Proc<Outcome | null> {
    const v = this.victimEntry("any");
    if (v < 0) return null;
    const st = yield* this.hc(FN.PCI_IOMMU_GETMAP, BigInt(this.dh), tsbid(0, v));
    const leak = st === HV.EOK ? `, RA ${hex(this.hv.ret2)} leaked` : "";
    return { blocked: st !== HV.EOK, detail: `${this.describe(v)}: ${statusName(st)}${leak}` };
  }

  /** A hypercall on an entry of its own lease, with a bad argument. */
  private *onOwn(
    make: (own: number) => [Proc<number>, readonly number[], string],
  ): Proc<Outcome | null> {
    const own = this.ownEntry();
    if (own < 0) return null;
    const [call, blockedBy, what] = make(own);
    return this.verdict(yield* call, blockedBy, `own entry ${own}, ${what}`);
  }

  // ---- DMA from its own device ----

  /** Its device DMAs one page through a victim's live entry. Blocked iff the IOMMU faults. */
  private *rogueDma(write: boolean): Proc<Outcome | null> {
    const v = this.victimEntry(write ? "writable" : "mapped");
    if (v < 0) return null;
    const dvma = this.io.windowBase + v * PAGE_SIZE;
    const port = this.env.io.device.port;
    const f = yield* port.dma(dvma, PAGE_SIZE, write, ROGUE_TAG, write ? undefined : this.readOut);
    if (f !== 0) return { blocked: true, detail: `${this.describe(v)}: ${DMA_FAULT_NAMES[f]}` };
    const what = write ? `wrote ${hex(ROGUE_TAG)} into` : `read ${hex(this.readOut[0]!)} from`;
    return { blocked: false, detail: `${what} the victim's page behind ${this.describe(v)}` };
  }

  /** Maps a page of its own, unmaps it, then DMAs to that DVMA. Blocked iff the IOMMU faults. */
  private *staleDma(): Proc<Outcome | null> {
    const m = yield* this.dma.mapSingle(this.staleRa, PAGE_SIZE, "bidirectional");
    if (isDmaFailure(m)) return null;
    yield* this.dma.unmapSingle(m);
    const f = yield* this.env.io.device.port.dma(m.dvma, PAGE_SIZE, true, ROGUE_TAG);
    const at = `DVMA ${hex(m.dvma)} after ${this.dma.opts.unmap} unmap`;
    return {
      blocked: f !== 0,
      detail: `${at}: ${f === 0 ? "reached memory" : DMA_FAULT_NAMES[f]}`,
    };
  }

  // ---- the negotiation channel ----

  /** Sends DVMA_RELEASE naming a victim's granted run. Blocked iff the victim still holds all it held. */
  private *forgedRelease(): Proc<Outcome | null> {
    const v = this.victimEntry("any");
    if (v < 0) return null;
    const { entryOwner: owner, windowBase } = this.io;
    const victim = owner[v]!;
    let [first, end] = [v, v + 1];
    while (first > 0 && owner[first - 1] === victim) first--;
    while (end < owner.length && owner[end] === victim) end++;
    const { broker } = this.env.platform;
    const before = broker.grantsOf(victim, this.dh).map((r) => ({ ...r }));
    const pkt = message(Msg.DVMA_RELEASE, {
      id: FORGED_ID_BASE + this.forged++,
      devhandle: this.dh,
      base: windowBase + first * PAGE_SIZE,
      npages: end - first,
    });
    if (this.env.guest.channel.send(this.me, encode(pkt)) !== HV.EOK) return null;
    yield RELEASE_CHECK_NS;
    const after = broker.grantsOf(victim, this.dh);
    const lost = before.filter((r) => !covers(after, r.base, r.npages));
    const name = this.hv.domains[victim]!.name;
    return {
      blocked: lost.length === 0,
      detail: `release of ${name}'s entries ${first}..${end - 1}: ${lost.length === 0 ? "grants unchanged" : `${name} lost ${lost.length} grant(s)`}`,
    };
  }

  // ---- aiming ----

  /**
   * An entry another live guest owns, or -1: one it has mapped if there is one ("any"), one it
   * has mapped ("mapped"), or one it has mapped writable ("writable": a rogue write aims there).
   */
  private victimEntry(need: "any" | "mapped" | "writable"): number {
    const { entryOwner: owner, iotsb } = this.io;
    const doms = this.hv.domains;
    const mapped: number[] = [];
    const owned: number[] = [];
    for (let i = 0; i < owner.length && mapped.length < CANDIDATES; i++) {
      const o = owner[i]!;
      if (o < 0 || o === this.me || doms[o]!.role !== "guest" || !doms[o]!.alive) continue;
      const writable = (iotsb.attr[i]! & IO_ATTR_WRITE) !== 0;
      if (iotsb.isValid(i) && (need !== "writable" || writable)) mapped.push(i);
      else if (owned.length < CANDIDATES) owned.push(i);
    }
    const pool = mapped.length > 0 || need !== "any" ? mapped : owned;
    return pool.length === 0 ? -1 : this.env.rng.pick(pool);
  }

  /** An entry of its own lease it has not mapped, or -1. */
  private ownEntry(): number {
    const { entryOwner: owner, iotsb } = this.io;
    for (let i = 0; i < owner.length; i++) if (owner[i] === this.me && !iotsb.isValid(i)) return i;
    return -1;
  }

  /** A free entry, looked for from a random place in the window, or -1. */
  private freeEntry(): number {
    const { entryOwner: owner } = this.io;
    const start = this.env.rng.int(0, owner.length);
    for (let n = 0; n < owner.length; n++) {
      const f = (start + n) % owner.length;
      if (owner[f] === -1) return f;
    }
    return -1;
  }

  private describe(index: number): string {
    return `${this.hv.domains[this.io.entryOwner[index]!]?.name ?? "free"} entry ${index}`;
  }
}

export default definePlugin({
  name: "adversary",
  kind: "workload",
  version: "1.0.0",
  description:
    "A malicious guest: raw hypercalls, rogue and stale DMA, forged LDC releases against other guests' DVMA",
  options,
  setup(_ctx, o): Workload {
    function* run(env: WorkloadEnv): Proc<void> {
      const dma = env.guest.dma.get(env.io.device.port.devhandle);
      if (dma === undefined) return;
      const a = new Attacker(env, dma);
      yield* a.lease();
      const alive = env.platform.hv.domains[env.guest.id]!;
      const t0 = env.sim.now;
      for (let k = 0; k < o.rounds * ATTACKS.length; k++) {
        const at = t0 + (k + 1) * o.intervalNs;
        if (at > env.sim.now) yield at - env.sim.now;
        if (env.sim.now >= env.untilNs || !alive.alive) return;
        const name = ATTACKS[k % ATTACKS.length]!;
        const out = yield* a.attempt(name, Math.floor(k / ATTACKS.length));
        if (out !== null && env.bus.wants("attack"))
          env.bus.emit("attack", { domain: env.guest.id, attack: name, ...out });
      }
    }
    return {
      start(env) {
        env.sim.spawn(run(env), `adversary:${env.guest.name}`);
      },
    };
  },
});
