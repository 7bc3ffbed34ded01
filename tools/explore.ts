/**
 * `bun run explore [--maps N] [--losses N] [--duplicates N] [--delays N] [--deaths N] [--restarts N]
 *   [--stale N] [--retries N] [--faults N] [--window N] [--lease N] [--max-states N] [--no-prune]
 *   [--no-reduce] [--no-symmetry] [--replay 0.1.0...]`
 *
 * Explores every schedule of the DVMA protocol within the bounds (2 guests) and prints states
 * explored, time and the result; a counterexample is printed as a schedule that --replay runs
 * again step by step.
 */
import { parseArgs } from "node:util";
import {
  DEFAULT_BOUNDS,
  type ExploreBounds,
  explore,
  runSchedule,
  ScheduleError,
} from "../core/harness/explore/index.ts";
import { explorePolicies } from "./explore-policies.ts";

const usage = (msg: string): never => {
  console.error(`explore: ${msg}`);
  process.exit(2);
};

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      maps: { type: "string" },
      losses: { type: "string" },
      duplicates: { type: "string" },
      delays: { type: "string" },
      deaths: { type: "string" },
      restarts: { type: "string" },
      stale: { type: "string" },
      retries: { type: "string" },
      faults: { type: "string" },
      window: { type: "string" },
      lease: { type: "string" },
      "max-states": { type: "string" },
      "no-prune": { type: "boolean" },
      "no-reduce": { type: "boolean" },
      "no-symmetry": { type: "boolean" },
      replay: { type: "string" },
    },
  });
}
try {
  args = parse();
} catch (e) {
  usage(e instanceof Error ? e.message : String(e));
}
const v = args!.values;

function int(name: string, raw: string | undefined, def: number, min: number, max: number) {
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw)) usage(`--${name} must be an integer, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) usage(`--${name} must be in [${min}, ${max}], got ${n}`);
  return n;
}

const bounds: ExploreBounds = {
  maps: int("maps", v.maps, DEFAULT_BOUNDS.maps, 0, 8),
  losses: int("losses", v.losses, DEFAULT_BOUNDS.losses, 0, 8),
  duplicates: int("duplicates", v.duplicates, DEFAULT_BOUNDS.duplicates, 0, 8),
  delays: int("delays", v.delays, DEFAULT_BOUNDS.delays, 0, 8),
  deaths: int("deaths", v.deaths, DEFAULT_BOUNDS.deaths, 0, 2),
  restarts: int("restarts", v.restarts, DEFAULT_BOUNDS.restarts, 0, 8),
  stale: int("stale", v.stale, DEFAULT_BOUNDS.stale, 0, 8),
  retries: int("retries", v.retries, DEFAULT_BOUNDS.retries, 0, 8),
  faults: int("faults", v.faults, DEFAULT_BOUNDS.faults, 0, 64),
  windowPages: int("window", v.window, DEFAULT_BOUNDS.windowPages, 1, 1024),
  leasePages: int("lease", v.lease, DEFAULT_BOUNDS.leasePages, 1, 1024),
};
const maxStates = int("max-states", v["max-states"], 5_000_000, 1, 1e9);
const reduce = !v["no-reduce"];
const symmetry = !v["no-symmetry"];
const summary = Object.entries(bounds)
  .map(([k, x]) => `${k}=${x}`)
  .join(" ");

if (v.replay !== undefined) {
  if (!/^\d+(\.\d+)*$|^$/.test(v.replay))
    usage(
      `--replay takes option indices joined by dots (e.g. 0.1.0), got ${JSON.stringify(v.replay)}`,
    );
  const schedule = v.replay === "" ? [] : v.replay.split(".").map(Number);
  console.log(`replay ${bounds.maps > 0 ? "" : "(no maps) "}${summary}`);
  let step = 0;
  let out: ReturnType<typeof runSchedule>;
  try {
    const show = (what: string, k: number, n: number) => {
      console.log(`  ${String(step++).padStart(3)}: ${what} -> option ${k} of ${n}`);
    };
    out = runSchedule(bounds, explorePolicies, schedule, null, { onStep: show, reduce });
  } catch (e) {
    if (e instanceof ScheduleError) usage(`--replay: ${e.message} (are the bounds the same?)`);
    throw e;
  }
  console.log(
    out.violations.length === 0
      ? `result: all invariants hold (${out.events} events)`
      : `result: VIOLATION\n  ${out.violations.join("\n  ")}`,
  );
  process.exit(out.violations.length === 0 ? 0 : 1);
}

const t0 = performance.now(); // host clock: wall time of the exploration, printed only
const r = explore({
  bounds,
  policies: explorePolicies,
  prune: !v["no-prune"],
  reduce,
  symmetry,
  maxStates,
  progress: (p) => {
    const s = ((performance.now() - t0) / 1000).toFixed(0); // host clock
    process.stderr.write(`  ... ${p.states} states, ${p.schedules} schedules, ${s} s\n`);
  },
});
const seconds = (performance.now() - t0) / 1000; // host clock
console.log(
  `explore: 2 guests, ${summary}, pruning ${v["no-prune"] ? "off" : "on"}, partial-order reduction ${reduce ? "on" : "off"}, guest symmetry ${symmetry ? "on" : "off"}`,
);
console.log(`  states explored   ${r.states}`);
console.log(
  `  end states        ${r.endStates}${symmetry ? "" : ` (${r.endClasses.size} up to the guest swap)`}`,
);
console.log(`  schedules run     ${r.schedules} (${r.pruned} cut at a state already seen)`);
console.log(`  events executed   ${r.events}`);
console.log(`  deepest schedule  ${r.maxDepth} choice points`);
console.log(`  time              ${seconds.toFixed(1)} s`);
if (r.counterexample !== undefined) {
  console.log("  result            VIOLATION");
  for (const line of r.counterexample.violations) console.log(`    ${line}`);
  console.log(
    `  replay with       bun run explore ${process.argv
      .slice(2)
      .filter((a) => !a.startsWith("--replay"))
      .join(" ")} --replay ${r.counterexample.schedule.join(".")}`.replace(
      "explore  --",
      "explore --",
    ),
  );
  process.exit(1);
}
console.log(
  `  result            ${r.complete ? "all invariants hold in every state" : `incomplete: stopped at --max-states ${maxStates}`}`,
);
process.exit(r.complete ? 0 : 1);
