/**
 * What an allocation policy tells the model about its locks and its work, so that a call can
 * cost simulated time. A policy declares its locks and work units once, when it is created,
 * then, inside each call, says which lock it takes and releases and how much work it does.
 * The call itself runs synchronously on the host; the meter records the sections in order and
 * the model replays them in simulated time on the calling CPU (waiting for each lock, holding
 * the CPU for the priced work). A policy that never touches its meter is charged one unit of
 * "call" work under one implicit lock.
 */

import type { LockKind } from "../sim/lock.ts";

export type { LockKind };

export interface PolicyMeter {
  /** Declares a lock (at creation); returns its id. Waiters on a "spin" lock burn their CPU. */
  lock(name: string, kind?: LockKind): number;
  /** Declares a work unit (at creation), e.g. "node" or "word"; returns its id. */
  unit(name: string): number;
  /** The call takes lock `id` now. */
  acquire(id: number): void;
  /** The call releases lock `id` now. */
  release(id: number): void;
  /** The call did `count` units of work `unit` now (under whatever locks it holds). */
  work(unit: number, count: number): void;
}

/** Record opcodes in `MeterLog.ops`: each record is [op, id, count]. */
export const METER_ACQUIRE = 1;
export const METER_RELEASE = 2;
export const METER_WORK = 3;
/** The lock and unit ids of the section charged for a call that reported nothing. */
export const IMPLICIT_LOCK = -1;
export const CALL_UNIT = -1;

/**
 * The recording meter: declarations are kept by name, calls append records to a flat array
 * the model drains after each policy call (no allocation per record in steady state).
 */
export class MeterLog implements PolicyMeter {
  readonly locks: { name: string; kind: LockKind }[] = [];
  readonly units: string[] = [];
  /** Flat records [op, id, count, op, id, count, ...]; `length` is the live part. */
  ops: number[] = [];
  length = 0;
  /** Work units recorded since creation, per unit id (for stats and the policy kit). */
  readonly totals: number[] = [];

  lock(name: string, kind: LockKind = "spin"): number {
    this.locks.push({ name, kind });
    return this.locks.length - 1;
  }

  unit(name: string): number {
    const known = this.units.indexOf(name);
    if (known >= 0) return known;
    this.units.push(name);
    this.totals.push(0);
    return this.units.length - 1;
  }

  acquire(id: number): void {
    this.push(METER_ACQUIRE, id, 0);
  }

  release(id: number): void {
    this.push(METER_RELEASE, id, 0);
  }

  work(unit: number, count: number): void {
    if (count <= 0) return;
    this.totals[unit] += count;
    this.push(METER_WORK, unit, count);
  }

  private mark = 0;

  /**
   * The caller marks the end of each policy call: a call that recorded nothing gets one "call"
   * unit under the implicit lock, so no call is free.
   */
  closeCall(): void {
    if (this.length === this.mark) {
      this.push(METER_ACQUIRE, IMPLICIT_LOCK, 0);
      this.push(METER_WORK, CALL_UNIT, 1);
      this.push(METER_RELEASE, IMPLICIT_LOCK, 0);
    }
    this.mark = this.length;
  }

  /** Forgets the records so far (declarations and totals stay). */
  clear(): void {
    this.length = 0;
    this.mark = 0;
  }

  private push(op: number, id: number, count: number): void {
    const o = this.ops;
    const n = this.length;
    o[n] = op;
    o[n + 1] = id;
    o[n + 2] = count;
    this.length = n + 3;
  }
}
