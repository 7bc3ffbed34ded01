import type { CostModel } from "../machine/cost-model.ts";
import type { DomainCpu } from "../machine/cpu.ts";
import type { Proc, Simulator } from "../sim/kernel.ts";
import { Lock } from "../sim/lock.ts";
import { after, ready } from "../sim/ready.ts";
import {
  IMPLICIT_LOCK,
  METER_ACQUIRE,
  METER_RELEASE,
  METER_WORK,
  type MeterLog,
} from "./policy-meter.ts";

/** A vCPU a caller holds, and how far the work it holds it for has got (ns, >= now). */
export interface Held {
  v: number;
  t: number;
}

/**
 * Charges an allocation policy's calls in simulated time. The policy runs synchronously on the
 * host and records its sections in its MeterLog; after the call the caller (who holds a vCPU)
 * replays them: each lock is taken as the policy took it (a spinner keeps burning its vCPU, a
 * sleeper frees it), each unit of work holds the vCPU for its price, each lock is released.
 * So policy work costs throughput when CPUs saturate and latency when locks are contended.
 */
export class PolicyReplay {
  private readonly locks: Lock[] = [];
  private implicit: Lock | undefined;
  private readonly prices: number[] = [];
  // Record buffers: a replay copies the log out first, because another call may append while it waits.
  private readonly spare: number[][] = [];
  private readonly spareHeld: number[][] = [];

  constructor(
    private readonly sim: Simulator,
    readonly meter: MeterLog,
    private readonly cost: CostModel,
    /** Names the locks in reports, e.g. "guest1/local". */
    readonly name: string,
  ) {}

  /** The caller marks the end of each policy call (see MeterLog.closeCall). */
  endCall(): void {
    this.meter.closeCall();
  }

  /** Every lock seen so far (the implicit one included), for hold and wait figures. */
  allLocks(): readonly Lock[] {
    const out = this.locks.filter((l) => l !== undefined);
    if (this.implicit !== undefined) out.push(this.implicit);
    return out;
  }

  /**
   * From a process holding vCPU `v` (taken for `cpu`): replays and clears the recorded calls.
   * Returns the vCPU held afterwards (a sleeper on ANY_VCPU may come back on another).
   */
  replay(dcpu: DomainCpu, v: number, cpu: number): Proc<number> {
    if (this.meter.length === 0) return ready(v);
    const end = this.charge(this.sim.now);
    if (end < 0) return this.replayLog(dcpu, v, cpu);
    return end > this.sim.now ? after(end - this.sim.now, v) : ready(v);
  }

  /**
   * For a caller holding `held` after charge(held.t) returned `end`: the calls end then (the
   * vCPU is held on until `end`), or, not chargeable (-1), once the work held for is over they
   * are replayed event by event (the vCPU held afterwards may be another).
   */
  *holdOn(end: number, dcpu: DomainCpu, held: Held, cpu: number): Proc<void> {
    if (end >= 0) {
      held.t = end;
      return;
    }
    if (held.t > this.sim.now) yield held.t - this.sim.now;
    held.v = yield* this.replay(dcpu, held.v, cpu);
    held.t = this.sim.now;
  }

  /**
   * For a caller that keeps its vCPU from `at` on: when every lock the recorded calls take is
   * taken now (`at` is now, no work or wait before it) and its wait can be spun, books their
   * holds (Lock.book), clears the log and returns when the calls are done, with no event: the
   * caller holds its vCPU until then. Otherwise -1, the log kept: `replay` it event by event.
   */
  charge(at: number): number {
    const now = this.sim.now;
    const ops = this.meter.ops;
    const n = this.meter.length;
    const h = this.holds; // [lock id, start, end (-1 while held)] per hold
    h.length = 0;
    let t = at;
    for (let i = 0; i < n; i += 3) {
      const op = ops[i]!;
      const id = ops[i + 1]!;
      if (op === METER_WORK) t += ops[i + 2]! * this.price(id);
      else if (op === METER_ACQUIRE) {
        if (this.holding(h, id) >= 0) continue; // a re-entrant acquire would wait for itself
        if (t !== now) return -1;
        const lock = this.lockOf(id);
        const start = lock.bookFrom();
        // A sleeper that must wait gives its vCPU up, unless it holds a spinlock (then it spins).
        if (start < 0 || (start > now && lock.kind === "sleep" && !this.spinning(h))) return -1;
        h.push(id, start, -1);
        t = start;
      } else if (op === METER_RELEASE) {
        const k = this.holding(h, id);
        if (k >= 0) h[k + 2] = t; // releasing what the call never took: nothing to do
      }
    }
    // A call that returned holding a lock releases it here.
    for (let k = 0; k < h.length; k += 3) {
      if (h[k + 2]! < 0) h[k + 2] = t;
      this.lockOf(h[k]!).book(h[k + 2]! - h[k + 1]!);
    }
    this.meter.clear();
    return t;
  }

  // charge's holds, reused so a replay allocates nothing.
  private readonly holds: number[] = [];

  /** Index in `h` of the hold of lock `id` still running, or -1. */
  private holding(h: number[], id: number): number {
    for (let k = 0; k < h.length; k += 3) if (h[k] === id && h[k + 2]! < 0) return k;
    return -1;
  }

  /** True when a hold in `h` still running is of a spinlock. */
  private spinning(h: number[]): boolean {
    for (let k = 0; k < h.length; k += 3)
      if (h[k + 2]! < 0 && this.lockOf(h[k]!).kind === "spin") return true;
    return false;
  }

  private *replayLog(dcpu: DomainCpu, v: number, cpu: number): Proc<number> {
    const log = this.meter;
    const n = log.length;
    const ops = this.spare.pop() ?? [];
    for (let i = 0; i < n; i++) ops[i] = log.ops[i]!;
    log.clear();
    const held = this.spareHeld.pop() ?? []; // lock ids this replay holds
    let spins = 0;
    let pending = 0;
    for (let i = 0; i < n; i += 3) {
      const op = ops[i]!;
      const id = ops[i + 1]!;
      if (op === METER_WORK) {
        pending += ops[i + 2]! * this.price(id);
        continue;
      }
      if (pending > 0) {
        yield pending; // the work before this lock operation, on the vCPU
        pending = 0;
      }
      if (op === METER_ACQUIRE) {
        if (held.includes(id)) continue; // a re-entrant acquire would wait for itself
        const lock = this.lockOf(id);
        v = yield* dcpu.lock(lock, v, cpu, spins === 0);
        held.push(id);
        if (lock.kind === "spin") spins++;
      } else if (op === METER_RELEASE) {
        const at = held.lastIndexOf(id);
        if (at < 0) continue; // releasing what the call never took: nothing to do
        held.splice(at, 1);
        const lock = this.lockOf(id);
        if (lock.kind === "spin") spins--;
        lock.release();
      }
    }
    if (pending > 0) yield pending;
    // A call that returned holding a lock releases it here, so one bad call cannot wedge the others.
    while (held.length > 0) this.lockOf(held.pop()!).release();
    this.spare.push(ops);
    this.spareHeld.push(held);
    return v;
  }

  private lockOf(id: number): Lock {
    if (id === IMPLICIT_LOCK) {
      this.implicit ??= new Lock(this.sim, `${this.name}:policy`, "spin");
      return this.implicit;
    }
    let lock = this.locks[id];
    if (lock === undefined) {
      const decl = this.meter.locks[id];
      lock = new Lock(this.sim, `${this.name}:${decl?.name ?? id}`, decl?.kind ?? "spin");
      this.locks[id] = lock;
    }
    return lock;
  }

  /** ns per unit `id` (CALL_UNIT for the implicit section). */
  private price(id: number): number {
    const known = this.prices[id + 1];
    if (known !== undefined) return known;
    const name = id < 0 ? "call" : (this.meter.units[id] ?? "call");
    const p = unitPrice(this.cost, name);
    this.prices[id + 1] = p;
    return p;
  }
}

/** The cost model's price of one unit of policy work named `name`. */
export function unitPrice(cost: CostModel, name: string): number {
  switch (name) {
    case "call":
      return cost.policyCallNs;
    case "node":
      return cost.policyNodeNs;
    case "word":
      return cost.policyWordNs;
    case "magazine":
      return cost.policyMagazineNs;
    default:
      return cost.policyUnitNs;
  }
}
