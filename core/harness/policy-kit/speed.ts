import type { GlobalPolicy, LocalPolicy } from "../../model/domains/policy.ts";
import { VirtualDmaSchema } from "../../model/machine/description.ts";
import { PAGE_SIZE } from "../../model/machine/memory.ts";
import type { Rng } from "../../model/sim/rng.ts";
import { GUESTS } from "./kit-common.ts";

/**
 * The policy kit's speed check, on the window real runs use: the default root complex's
 * 262,144 pages (2 GiB of 8 KiB pages), not the kit's small one. A policy whose work grows with
 * the window (a scan over every page) passes the other checks on 1,024 pages and makes
 * `default` take minutes; here it shows before a user waits.
 *
 * Local: what a guest does in `default` — a 512-page lease (the default `leasePages`) high in
 * the window and one in the middle, then maps and unmaps of 1 to 8 pages with up to 32 mapped
 * (the oldest unmapped first, and whenever an alloc finds no room). Global: lease grants of 512
 * pages to the guests in turn, each revoked once four are out. Calls are timed in the process's
 * CPU time (the kit is no simulation; a busy machine does not make a policy look slow) until
 * CALLS calls or BUDGET_MS have passed, whichever comes first.
 */

/** Pages in the default machine's DVMA window (VirtualDmaSchema's default size). */
export const REAL_WINDOW_PAGES = (VirtualDmaSchema.properties.size.default as number) / PAGE_SIZE;

/**
 * Policy calls one `bun run scenario default` makes (3 paths, 10 ms simulated each): measured
 * by counting every call into the policies at the commit that added this check (47,884 alloc,
 * 47,708 free, 6 addRange; 6 grants and no revokes). Used to say how long a real run would
 * spend in the policy.
 */
export const DEFAULT_RUN_CALLS = { "policy.local": 95_598, "policy.global": 6 } as const;

/** Seconds of policy time in one `default` run past which the policy is flagged too slow (assumed). */
export const SLOW_SECONDS = 10;

const LEASE = 512;
const MAPPED = 32;
const CALLS = 20_000;
const BUDGET_MS = 1_000;

export interface SpeedResult {
  windowPages: number;
  calls: number;
  callsPerSecond: number;
  /** Seconds one `default` run would spend in this policy at that rate. */
  defaultRunSeconds: number;
  tooSlow: boolean;
}

/** CPU milliseconds this process has used (user + system): other processes do not inflate it. */
function cpuMs(): number {
  const u = process.cpuUsage(); // host clock: CPU time, to time the policy
  return (u.user + u.system) / 1e3;
}

/** Times `step` (one call each) in CPU time until CALLS calls or BUDGET_MS pass. */
function timed(step: () => void, kind: keyof typeof DEFAULT_RUN_CALLS): SpeedResult {
  let calls = 0;
  const t0 = cpuMs();
  let elapsed = 0;
  while (calls < CALLS && elapsed < BUDGET_MS) {
    for (let i = 0; i < 64; i++) step();
    calls += 64;
    elapsed = cpuMs() - t0;
  }
  const callsPerSecond = calls / (Math.max(elapsed, 1e-3) / 1e3);
  const defaultRunSeconds = DEFAULT_RUN_CALLS[kind] / callsPerSecond;
  return {
    windowPages: REAL_WINDOW_PAGES,
    calls,
    callsPerSecond,
    defaultRunSeconds,
    tooSlow: defaultRunSeconds > SLOW_SECONDS,
  };
}

/** Local policy speed: one step is one alloc or one free. */
export function localSpeed(policy: LocalPolicy, rng: Rng): SpeedResult {
  const top = REAL_WINDOW_PAGES - LEASE;
  policy.addRange(top, LEASE);
  policy.addRange(REAL_WINDOW_PAGES / 2, LEASE);
  const mapped: [number, number][] = [];
  const unmapOldest = () => {
    const [page, n] = mapped.shift()!;
    policy.free(page, n, page % 4);
  };
  return timed(() => {
    if (mapped.length >= MAPPED) return unmapOldest();
    const n = rng.int(1, 9);
    const page = policy.alloc(n, 1, mapped.length % 4);
    if (page >= 0) mapped.push([page, n]);
    else if (mapped.length > 0) unmapOldest();
  }, "policy.local");
}

/** Global policy speed: one step is one grant or one revoke. */
export function globalSpeed(policy: GlobalPolicy): SpeedResult {
  const out: [domain: number, base: number][] = [];
  let next = 0;
  return timed(() => {
    if (out.length >= GUESTS.length) {
      const [domain, base] = out.shift()!;
      policy.revoke(domain, base, LEASE);
      return;
    }
    const domain = GUESTS[next++ % GUESTS.length]!;
    const got = policy.grant(domain, LEASE, 1);
    if (typeof got === "number") out.push([domain, got]);
  }, "policy.global");
}

/** The check's line: the rate, what a default run would spend, and the verdict. */
export function describeSpeed(s: SpeedResult): string {
  const rate = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const secs = s.defaultRunSeconds < 0.01 ? "< 0.01" : s.defaultRunSeconds.toFixed(2);
  const base = `${rate.format(s.callsPerSecond)} calls/s on the ${rate.format(s.windowPages)}-page window (${s.calls} calls); one \`default\` run would spend ${secs} s in this policy`;
  return s.tooSlow
    ? `${base}: too slow for real runs (limit ${SLOW_SECONDS} s); keep each call's work proportional to what it holds, not to the window`
    : base;
}
