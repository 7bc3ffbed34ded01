/**
 * The policy kit's check of what a policy tells its meter (policy-meter.ts). After every call
 * the records of that call must be plausible: only declared locks and units; each lock taken at
 * most once at a time and released in the same call (a call that ends holding a lock would
 * leave the model's lock held forever); work counts positive integers, their sum bounded by
 * what a call over the window can touch; and an alloc or grant of a policy that declared
 * anything reports some work (the model would otherwise charge it nothing).
 */

import { PluginError } from "../../input/errors.ts";
import {
  METER_ACQUIRE,
  METER_RELEASE,
  METER_WORK,
  MeterLog,
} from "../../model/domains/policy-meter.ts";

/** Methods whose call must report work once the policy declared locks or units. */
const WORKING = new Set(["alloc", "grant"]);

export class CheckedMeter extends MeterLog {
  /** Most work one call may report: every page of the window visited log2(window) + 1 times. */
  readonly bound: number;
  calls = 0;
  maxWork = 0;
  /** Calls whose records broke a rule (each also fails the kit check it happened in). */
  failures = 0;
  private readonly held = new Set<number>();

  constructor(
    readonly plugin: string,
    windowPages: number,
  ) {
    super();
    this.bound = (windowPages + 64) * (Math.ceil(Math.log2(windowPages)) + 1);
  }

  /** Checks the records of the call to `method` that just returned, then forgets them. */
  endCall(method: string): void {
    const fail = (why: string) => {
      this.failures++;
      this.clear();
      this.held.clear();
      throw new PluginError(this.plugin, method, `meter: ${why}`);
    };
    let work = 0;
    const o = this.ops;
    for (let i = 0; i < this.length; i += 3) {
      const op = o[i];
      const id = o[i + 1];
      if (op === METER_ACQUIRE || op === METER_RELEASE) {
        if (!(Number.isInteger(id) && id >= 0 && id < this.locks.length))
          fail(`lock ${id} was never declared (declare locks with meter.lock at creation)`);
        const name = this.locks[id].name;
        if (op === METER_ACQUIRE) {
          if (this.held.has(id)) fail(`took lock "${name}" while already holding it`);
          this.held.add(id);
        } else {
          if (!this.held.has(id)) fail(`released lock "${name}" without holding it`);
          this.held.delete(id);
        }
      } else if (op === METER_WORK) {
        const count = o[i + 2];
        if (!(Number.isInteger(id) && id >= 0 && id < this.units.length))
          fail(`work unit ${id} was never declared (declare units with meter.unit at creation)`);
        if (!Number.isInteger(count)) fail(`work count ${count} is not an integer`);
        work += count;
      }
    }
    if (this.held.size > 0) {
      const names = [...this.held].map((id) => `"${this.locks[id].name}"`).join(", ");
      fail(`returned holding ${names}: every lock taken in a call must be released in it`);
    }
    if (work > this.bound)
      fail(
        `reported ${work} units of work in one call, more than ${this.bound} (the window visited log2(window) + 1 times)`,
      );
    if (work === 0 && WORKING.has(method) && this.locks.length + this.units.length > 0)
      fail("reported no work: a call that declared locks or units must say what it did");
    this.calls++;
    if (work > this.maxWork) this.maxWork = work;
    this.clear();
  }
}

/** `policy` with `meter.endCall` after each of `methods` (other properties read through). */
export function meteredPolicy<P extends object>(
  policy: P,
  meter: CheckedMeter,
  methods: readonly string[],
): P {
  const out = Object.create(policy) as Record<string, unknown>;
  for (const m of methods) {
    const f = (policy as Record<string, unknown>)[m];
    if (typeof f !== "function") continue;
    out[m] = (...args: unknown[]) => {
      const r = (f as (...a: unknown[]) => unknown).apply(policy, args);
      meter.endCall(m);
      return r;
    };
  }
  return out as P;
}
