import { SYNC_FOR_CPU, SYNC_FOR_DEVICE } from "../hv/functions.ts";
import { HV } from "../hv/status.ts";
import { PAGE_SIZE } from "../machine/memory.ts";
import type { Proc } from "../sim/kernel.ts";
import { Lock } from "../sim/lock.ts";
import { ready } from "../sim/ready.ts";
import { DmaCalls, StrictUnmap, type UnmapSteps } from "./guest-dma-calls.ts";
import {
  attrsOf,
  DEFAULT_GUEST_DMA,
  type DmaDirection,
  type DmaFailure,
  type DmaMapping,
  type GuestDmaEnv,
  type GuestDmaOptions,
  isDmaFailure,
  newDmaStats,
} from "./guest-dma-types.ts";
import type { Completion } from "./io.ts";
import { type Lease, LeaseTable, leaseWithFallback } from "./leases.ts";
import type { PolicyStats } from "./policy.ts";
import type { Held } from "./policy-replay.ts";
import { Msg, message } from "./protocol.ts";

/**
 * A guest OS's DMA API, modelled on Linux's: mapSingle / mapSg / unmapSingle / allocCoherent /
 * sync. It gets DVMA from the control domain over LDC, maps it itself through the hypervisor's
 * IOMMU calls in batches of up to 1024 TTEs (looping on partial completion), and gives it back.
 * Methods are generator functions: `const m = yield* dma.mapSingle(ra, len, "from-device", cpu)`;
 * each runs on guest vCPU `cpu` for the time its work takes (bookkeeping, hypercalls, the local
 * policy's replayed calls) and frees it while it waits for the broker.
 */
export class GuestDmaApi {
  readonly opts: GuestDmaOptions;
  private readonly calls: DmaCalls;
  private readonly windowBase: number;
  private readonly leases: LeaseTable;
  private deferred: number[] = []; // flat (index, npages) pairs
  private deferredTimer = -1;
  /** Deferred flushes are serialised, as Linux serialises its flush queue. */
  readonly flushLock: Lock;
  /** Entries of per-map grants, by first index, so unmap knows to release them. */
  private readonly perMapGrants = new Map<number, number>();
  readonly stats = newDmaStats();

  constructor(
    private readonly env: GuestDmaEnv,
    opts: Partial<GuestDmaOptions> = {},
  ) {
    // A policy may say how it wants DVMA acquired (negotiate-per-map does); otherwise the guest's setting.
    this.opts = {
      ...DEFAULT_GUEST_DMA,
      ...opts,
      ...(env.policy.acquire ? { acquire: env.policy.acquire } : {}),
    };
    const io = env.hv.iommus.get(env.devhandle);
    if (io === undefined) throw new RangeError(`no root complex with devhandle ${env.devhandle}`);
    this.windowBase = io.windowBase;
    this.flushLock = new Lock(env.sim, `${env.hv.domains[env.domain]!.name}:dma-flush`, "spin");
    // The per-CPU page list lives in one page of the guest's own memory, as in Linux.
    const listRa = env.memory.alloc(1);
    const pa = env.hv.domains[env.domain]!.mem.paPageOf(listRa);
    this.leases = new LeaseTable(env.sim, this.opts.leaseIdleNs, (l) => {
      this.dropLease(l);
      env.sim.spawn(this.release(l.base, l.npages), "lease-release");
    });
    this.calls = new DmaCalls(env, listRa, env.hv.memory.words(pa), this.stats);
  }

  get alive(): boolean {
    return this.env.hv.domains[this.env.domain]!.alive;
  }

  /** Maps [ra, ra + len); with `limit`, below window entry `limit` (a 32-bit DMA mask). */
  mapSingle(ra: number, len: number, dir: DmaDirection, cpu = 0, limit?: number) {
    if (!(len > 0)) return ready(this.fail("bad-length"));
    const first = Math.floor(ra / PAGE_SIZE) * PAGE_SIZE;
    const n = Math.floor((ra + len - 1) / PAGE_SIZE) - first / PAGE_SIZE + 1;
    return this.mapPages(n, attrsOf(dir), cpu, ra - first, len, first, null, limit); // no frame around it
  }

  /** Maps scatter-gather segments into one contiguous DVMA range (Linux merges them the same way). */
  *mapSg(
    segs: readonly { ra: number; len: number }[],
    dir: DmaDirection,
    cpu = 0,
  ): Proc<DmaMapping | DmaFailure> {
    const pages: number[] = [];
    let len = 0;
    for (const s of segs) {
      if (!(s.len > 0)) return this.fail("bad-length");
      const a = Math.floor(s.ra / PAGE_SIZE);
      const b = Math.floor((s.ra + s.len - 1) / PAGE_SIZE);
      for (let p = a; p <= b; p++) pages.push(p * PAGE_SIZE);
      len += s.len;
    }
    if (pages.length === 0) return this.fail("bad-length");
    const offset = segs[0]!.ra % PAGE_SIZE;
    return yield* this.mapPages(pages.length, attrsOf(dir), cpu, offset, len, 0, pages);
  }

  *unmapSingle(m: DmaMapping, cpu = 0): Proc<void> {
    const { cpu: dcpu, cost } = this.env;
    this.stats.unmaps++;
    let v = yield* dcpu.take(cpu);
    if (this.opts.unmap === "strict") {
      yield cost.dmaApiCpuNs + this.calls.demap(m.index, m.npages);
      this.giveBack(m.index, m.npages, v);
      v = yield* this.env.replay.replay(dcpu, v, cpu);
    } else {
      yield cost.dmaApiCpuNs;
      this.deferred.push(m.index, m.npages);
      if (this.deferred.length / 2 >= this.opts.deferredMaxEntries)
        v = yield* this.flushDeferred(v, cpu);
      else if (this.deferredTimer < 0) {
        this.deferredTimer = this.env.sim.schedule(this.opts.deferredMaxNs, () => {
          this.deferredTimer = -1;
          this.env.sim.spawn(this.flush(0), "dma-flush-timer");
        });
      }
    }
    dcpu.free(v);
  }

  /**
   * The strict unmap of `m` as a completion interrupt's handler does it on its vCPU: the
   * bookkeeping and demap, then (once the demap is over) the DVMA back to the local policy. Null
   * when this API unmaps otherwise (deferred): use unmapSingle.
   */
  completion(m: DmaMapping): Completion | null {
    return this.opts.unmap === "strict" ? new StrictUnmap(this.unmapSteps, m) : null;
  }

  private readonly unmapSteps: UnmapSteps = {
    demap: (m, at) => {
      this.stats.unmaps++;
      return at + this.env.cost.dmaApiCpuNs + this.calls.demap(m.index, m.npages);
    },
    giveBack: (m, v) => {
      this.giveBack(m.index, m.npages, v);
      return this.env.replay.replay(this.env.cpu, v, v);
    },
  };

  /** Allocates zeroed guest pages and maps them for both directions. */
  *allocCoherent(len: number, cpu = 0): Proc<{ ra: number; mapping: DmaMapping } | DmaFailure> {
    const npages = Math.ceil(len / PAGE_SIZE);
    const ra = this.env.memory.alloc(npages);
    if (ra < 0) return this.fail("out-of-memory");
    const m = yield* this.mapSingle(ra, len, "bidirectional", cpu);
    if (isDmaFailure(m)) {
      this.env.memory.free(ra, npages);
      return m;
    }
    return { ra, mapping: m };
  }

  *freeCoherent(c: { ra: number; mapping: DmaMapping }, cpu = 0): Proc<void> {
    yield* this.unmapSingle(c.mapping, cpu);
    this.env.memory.free(c.ra, Math.ceil(c.mapping.len / PAGE_SIZE));
  }

  /** pci_dma_sync for a mapping's buffer, on vCPU `cpu`; returns the hypervisor status. */
  *sync(ra: number, len: number, toDevice: boolean, cpu = 0): Proc<number> {
    const { cpu: dcpu, hv, domain, devhandle } = this.env;
    const v = yield* dcpu.take(cpu);
    const st = hv.dmaSync(domain, devhandle, ra, len, toDevice ? SYNC_FOR_DEVICE : SYNC_FOR_CPU);
    yield hv.lastCostNs;
    dcpu.free(v);
    return st;
  }

  /** Demaps everything a deferred unmap still holds (e.g. before releasing leases). */
  *flush(cpu = 0): Proc<void> {
    if (this.deferred.length === 0) return;
    const v = yield* this.env.cpu.take(cpu);
    this.env.cpu.free(yield* this.flushDeferred(v, cpu));
  }

  /** The local policy's figures (allocated, free, fragmentation, ...); {} from an unchecked policy without stats. */
  policyStats(): Partial<PolicyStats> {
    return this.env.policy.stats?.() ?? {};
  }

  /** Ranges of the window this guest holds as leases: [base, npages] in entry indices. */
  get heldLeases(): readonly { base: number; npages: number; live: number }[] {
    return this.leases.all;
  }

  /** What checks and reports read besides leases: who, where, the policy, per-map grants, deferred unmaps, locks. */
  get accounting() {
    const { domain, devhandle, policy } = this.env;
    const perMap: ReadonlyMap<number, number> = this.perMapGrants;
    const deferred: readonly number[] = this.deferred;
    const locks: readonly Lock[] = [...this.env.replay.allLocks(), this.flushLock];
    return { domain, devhandle, policy, perMap, deferred, locks };
  }

  private *mapPages(
    npages: number,
    attrs: number,
    cpu: number,
    offset: number,
    len: number,
    raFirst: number,
    raPages: number[] | null,
    limitPages?: number,
  ): Proc<DmaMapping | DmaFailure> {
    if (!this.alive) return this.fail("domain-dead");
    const { cost, cpu: dcpu, sim } = this.env;
    // `t`: how far the work on the held vCPU has got. Work that cannot wait (the policy's alloc
    // with its locks booked, bookkeeping, hypercalls) adds to it; the vCPU is held until then,
    // and the process waits once, unless it must free the vCPU first (to ask the broker). The
    // DVMA is allocated first, as Linux's dma_4v_map_page calls iommu_tbl_range_alloc first.
    const held = { v: yield* dcpu.take(cpu), t: sim.now };
    const got = yield* this.acquire(npages, cpu, held, limitPages);
    held.t += cost.dmaApiCpuNs;
    if (typeof got === "string") {
      if (held.t > sim.now) yield held.t - sim.now;
      dcpu.free(held.v);
      this.stats.refused++;
      return this.fail(got);
    }
    const index = got;
    held.t += this.calls.map(index, npages, attrs, raFirst, raPages);
    if (this.calls.status !== HV.EOK) {
      // Unlike Linux ("XXX demap?"), undo what was mapped before giving the DVMA back.
      const st = this.calls.status;
      if (this.calls.mapped > 0) held.t += this.calls.demap(index, this.calls.mapped);
      yield held.t - sim.now;
      this.giveBack(index, npages, held.v);
      dcpu.free(yield* this.env.replay.replay(dcpu, held.v, cpu));
      return this.fail(`map-status-${st}`);
    }
    this.stats.maps++;
    yield held.t - sim.now;
    dcpu.free(held.v);
    return { dvma: this.windowBase + index * PAGE_SIZE + offset, len, index, npages, attrs };
  }

  /**
   * First entry of `npages` mappable entries (below `lim`), or why none; frees `held.v` to ask
   * the broker, after the work it held it for (`held.t`). A lease hit whose policy locks are
   * booked (the common map) returns with no generator of its own.
   */
  private acquire(npages: number, cpu: number, held: Held, lim?: number): Proc<number | string> {
    if (this.opts.acquire === "per-map") return this.acquireSlow(-1, -1, npages, cpu, held);
    const idx = this.alloc(npages, held, lim);
    const end = this.env.replay.charge(held.t);
    if (end < 0 || idx < 0) return this.acquireSlow(idx, end, npages, cpu, held, lim);
    held.t = end;
    this.leases.use(idx, npages);
    return ready(idx);
  }

  /** acquire() past the local policy's first answer `idx`, its calls charged until `end`. */
  private *acquireSlow(
    idx: number,
    end: number,
    npages: number,
    cpu: number,
    held: Held,
    lim?: number,
  ): Proc<number | string> {
    const { cpu: dcpu, sim, replay } = this.env;
    if (this.opts.acquire === "per-map") {
      if (held.t > sim.now) yield held.t - sim.now;
      dcpu.free(held.v);
      const g = yield* this.negotiate(npages, cpu);
      held.v = yield* dcpu.take(cpu);
      held.t = sim.now;
      if (typeof g === "string") return g;
      this.perMapGrants.set(g, npages);
      return g;
    }
    yield* replay.holdOn(end, dcpu, held, cpu);
    if (idx < 0) {
      if (held.t > sim.now) yield held.t - sim.now;
      dcpu.free(held.v);
      const g = yield* leaseWithFallback(this.opts.leasePages, npages, (n) =>
        this.negotiate(n, cpu),
      );
      held.v = yield* dcpu.take(cpu);
      held.t = sim.now;
      if (typeof g === "string") return g;
      idx = this.alloc(npages, held, lim);
      yield* replay.holdOn(replay.charge(held.t), dcpu, held, cpu);
      if (idx < 0) return "local-policy-refused";
    }
    this.leases.use(idx, npages);
    return idx;
  }

  /** The local policy's alloc on held vCPU `held.v` (charged by the caller). */
  private alloc(npages: number, held: Held, limit?: number): number {
    const idx = this.env.policy.alloc(npages, 1, held.v, limit);
    this.env.replay.endCall();
    return idx;
  }

  /** Asks the broker for `npages`; a lease is recorded and given to the local policy. */
  private *negotiate(npages: number, cpu: number): Proc<number | string> {
    this.stats.negotiations++;
    const asked = this.env.sim.now;
    const reply = yield* this.env.link.ask(
      message(Msg.DVMA_REQ, { devhandle: this.env.devhandle, npages, align: 1 }),
      false,
      cpu,
    );
    this.stats.dvmaWaitNs += this.env.sim.now - asked;
    if (reply === null) return "negotiation-timeout";
    if (reply.kind !== Msg.DVMA_GRANT) return `nack:${reply.reason || "refused"}`;
    const base = (reply.base - this.windowBase) / PAGE_SIZE;
    if (this.opts.acquire === "lease") {
      this.leases.insert(base, reply.npages);
      this.stats.leasesHeld = this.leases.all.length;
      this.env.policy.addRange(base, reply.npages);
      this.env.replay.endCall();
    }
    return base;
  }

  /** DVMA whose TTEs are cleared goes back: to the local policy (lease, on vCPU `cpu`) or to the broker (per-map). */
  private giveBack(index: number, npages: number, cpu: number): void {
    const granted = this.perMapGrants.get(index);
    if (granted !== undefined) {
      this.perMapGrants.delete(index);
      this.env.sim.spawn(this.release(index, granted), "dvma-release");
      return;
    }
    this.env.policy.free(index, npages, cpu);
    this.env.replay.endCall();
    this.leases.unuse(index, npages);
  }

  /** On held vCPU `v`: demaps every deferred unmap under the flush lock, gives the DVMA back. */
  private *flushDeferred(v: number, cpu: number): Proc<number> {
    if (this.deferred.length === 0) return v;
    if (this.deferredTimer >= 0) {
      this.env.sim.cancel(this.deferredTimer);
      this.deferredTimer = -1;
    }
    const pairs = this.deferred;
    this.deferred = [];
    this.stats.deferredFlushes++;
    // Sort by entry and demap adjacent runs with one call each.
    const order: number[] = [];
    for (let i = 0; i < pairs.length; i += 2) order.push(i);
    order.sort((a, b) => pairs[a]! - pairs[b]!);
    let spent = 0;
    for (let k = 0; k < order.length; ) {
      const start = pairs[order[k]!]!;
      let end = start;
      for (; k < order.length && pairs[order[k]!] === end; k++) end += pairs[order[k]! + 1]!;
      spent += this.calls.demap(start, end - start);
    }
    const dcpu = this.env.cpu;
    v = yield* dcpu.lock(this.flushLock, v, cpu, false);
    yield spent;
    this.flushLock.release();
    for (const i of order) this.giveBack(pairs[i]!, pairs[i + 1]!, v);
    return yield* this.env.replay.replay(dcpu, v, cpu);
  }

  private dropLease(l: Lease): void {
    this.leases.drop(l);
    this.env.policy.removeRange(l.base, l.npages);
    this.env.replay.endCall();
    this.stats.leasesHeld = this.leases.all.length;
  }

  /** Gives every idle lease back to the broker (after flushing deferred unmaps). */
  *releaseIdleLeases(): Proc<number> {
    yield* this.flush();
    const idle = this.leases.all.filter((l) => l.live === 0);
    for (const l of idle) {
      this.dropLease(l);
      yield* this.release(l.base, l.npages);
    }
    return idle.length;
  }

  /** Gives a range back to the broker, after charging the policy calls that let go of it. */
  private *release(index: number, npages: number): Proc<void> {
    const base = this.windowBase + index * PAGE_SIZE;
    if (this.env.replay.meter.length > 0) {
      const { cpu, replay } = this.env;
      cpu.free(yield* replay.replay(cpu, yield* cpu.take(0), 0));
    }
    yield* this.env.link.ask(
      message(Msg.DVMA_RELEASE, { devhandle: this.env.devhandle, base, npages }),
      true,
    );
  }

  private fail(error: string): DmaFailure {
    this.stats.failures++;
    return { error };
  }
}
