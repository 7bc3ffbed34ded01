/**
 * The live feed's cost, against the real baseline: the same run as `bun run scenario` makes it
 * without `--serve` (runScenario, no observer). With `--serve` and no client (the live plugin
 * registered in every run, sliced runs, nobody connected) the target is at most 5% slower;
 * then one SSE client (its own process, as a browser would be) on an unpaced run, and on a
 * paced run, where it must receive every event. Server options are the CLI's defaults (client
 * queue 4096). Peers alternate within each repetition; every run's report must equal the
 * baseline's. Costs are this process's CPU time (the machine is shared; wall time is not).
 */

import {
  applySets,
  definePlugin,
  durationNs,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
  type Report,
  reportJson,
  runScenario,
  runScenarioAsync,
  startService,
} from "../../core/index.ts";
import live, { type LiveServer } from "../../plugins/live/index.ts";
import { fmt, header, median, note, row } from "./harness.ts";

/**
 * The client: reads /events, counts simulation events (frames whose data starts {"type":), and
 * when the run's `result` notice arrives prints the count and the time since its `run` notice.
 */
const READER = `
const res = await fetch(process.env.LIVE_URL);
const reader = res.body.getReader();
const dec = new TextDecoder();
let events = 0, tail = "", first = 0;
console.log("ready");
for (;;) {
  const { done, value } = await reader.read();
  if (done) break;
  const text = tail + dec.decode(value, { stream: true });
  if (first === 0 && text.includes("event: run")) first = performance.now();
  events += text.split('data: {"type":').length - 1;
  if (text.includes("event: result")) {
    console.log(JSON.stringify({ events, ms: performance.now() - first }));
    process.exit(0);
  }
  // One character short of the marker, so no marker is counted twice.
  tail = text.slice(-13);
}
`;

/** A server with the CLI's defaults (but any free port). */
function startLive(): LiveServer {
  return startService<LiveServer>(live, { port: 0 }).service;
}

async function scenario(duration: string) {
  const cwd = process.cwd();
  // One path, so one `result` notice marks the end of the stream.
  const raw = applySets(await loadScenarioFile("default", cwd), [
    `duration=${JSON.stringify(duration)}`,
    'paths=["direct"]',
  ]);
  const scn = parseScenario(raw);
  return { raw, scn, table: await loadScenarioPlugins(scn, cwd) };
}

type Run = Awaited<ReturnType<typeof scenario>>;

/** Starts a reader process on `srv` and waits until it is connected. */
async function reader(srv: LiveServer) {
  const proc = Bun.spawn(["bun", "-e", READER], {
    env: { ...process.env, LIVE_URL: `${srv.url}events` },
    stdout: "pipe",
  });
  const lines = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (!buf.includes("ready\n")) buf += (await lines.read()).value ?? "";
  // Wait until the server has the client attached.
  for (;;) {
    const s = (await (await fetch(`${srv.url}state`)).json()) as { feed: { clients: unknown[] } };
    if (s.feed.clients.length > 0) break;
    await Bun.sleep(5);
  }
  return {
    async result(): Promise<{ events: number; ms: number }> {
      while (!buf.includes("}\n")) {
        const r = await lines.read();
        if (r.done) throw new Error(`reader exited: ${buf}`);
        buf += r.value;
      }
      await proc.exited;
      return JSON.parse(buf.slice(buf.indexOf("{"), buf.lastIndexOf("}") + 1));
    },
  };
}

/** Wall seconds and report of one run: without `--serve` (no server) or as `--serve` runs it. */
async function timedRun(run: Run, srv?: LiveServer, pace?: number) {
  const t0 = Bun.nanoseconds(); // host clock: a benchmark
  const c0 = process.cpuUsage(); // host clock: CPU time
  let report: Report;
  if (srv === undefined) report = runScenario(run.raw, run.scn, run.table);
  else {
    const hold = srv.hold(pace !== undefined);
    report = await runScenarioAsync(run.raw, run.scn, run.table, {
      observers: [srv.observer],
      pace,
      drain: hold.drain,
    }).finally(() => hold.end());
  }
  const c = process.cpuUsage(c0);
  // CPU seconds of this process (the simulation and the server; the reader has its own):
  // other people's work on a shared machine does not count in them.
  const cpu = (c.user + c.system) / 1e6;
  return { s: (Bun.nanoseconds() - t0) / 1e9, cpu, json: reportJson(report), report };
}

/** Events the run published on its bus (all of them, counted by one "*" listener). */
async function eventsOfRun(run: Run): Promise<number> {
  let n = 0;
  const counter = definePlugin({
    name: "event-counter",
    kind: "observer",
    version: "1.0.0",
    setup(ctx) {
      ctx.bus.on("*", () => n++);
    },
  });
  await runScenarioAsync(run.raw, run.scn, run.table, { observers: [counter] });
  return n;
}

function same(a: string, b: string, what: string): void {
  if (a !== b) throw new Error(`${what}: the report differs from the run without --serve`);
}

export default async function ({ quick }: { quick: boolean }): Promise<void> {
  const duration = quick ? "5ms" : "20ms";
  const reps = quick ? 3 : 7;
  const run = await scenario(duration);
  const published = await eventsOfRun(run);
  header(`Live feed: default scenario, direct path, ${duration} simulated, CLI defaults`);
  note("  events per run", fmt(published));
  const srv = startLive();
  try {
    const base = await timedRun(run); // warm-up, and the report every run must give
    await timedRun(run, srv);
    const alone: number[] = [];
    const idle: number[] = [];
    const watched: number[] = [];
    let delivered = 0;
    for (let i = 0; i < reps; i++) {
      const a = await timedRun(run);
      alone.push(a.cpu);
      const b = await timedRun(run, srv);
      same(b.json, base.json, "--serve, no client");
      idle.push(b.cpu);
      const r = await reader(srv);
      const c = await timedRun(run, srv);
      same(c.json, base.json, "--serve, one client");
      watched.push(c.cpu);
      delivered = (await r.result()).events;
      await noClients(srv);
    }
    // Per repetition, against the run without --serve just before it.
    const slow = (xs: number[]) => xs.map((x, i) => (x / alone[i]! - 1) * 100);
    row("--serve, no client: CPU vs no --serve", slow(idle), "%", { max: 5 });
    // No target: a client that keeps up costs the serialisation and sending of every event.
    row("--serve, one SSE client: CPU vs no --serve", slow(watched), "%");
    note(
      "  run CPU time: no --serve / idle / one client",
      `${ms(alone)} / ${ms(idle)} / ${ms(watched)}` +
        ` (the client got ${delivered} of ${published} events; a full queue of 4096 drops the oldest)`,
    );

    // Paced: every client is lossless, so the one client must get every event.
    const pace = quick ? 0.02 : 0.01;
    const r = await reader(srv);
    const p = await timedRun(run, srv, pace);
    same(p.json, base.json, "--serve --pace, one client");
    const got = await r.result();
    if (got.events !== published)
      throw new Error(`paced run: the client got ${got.events} of ${published} events`);
    const due = durationNs(duration) / 1e9 / pace;
    row("paced, one SSE client: events received", got.events, "events", { min: published });
    row("  delivered to the client while paced", got.events / (got.ms / 1e3), "events/s");
    note(
      `  paced run wall time (--pace ${pace})`,
      `${(p.s * 1e3).toFixed(1)} ms (due ${(due * 1e3).toFixed(0)} ms)`,
    );
  } finally {
    await srv.stop();
  }
}

const ms = (xs: number[]) => `${(median(xs) * 1e3).toFixed(1)} ms`;

/** Waits until the server has no client left (the reader process ended). */
async function noClients(srv: LiveServer): Promise<void> {
  for (;;) {
    const s = (await (await fetch(`${srv.url}state`)).json()) as { feed: { clients: unknown[] } };
    if (s.feed.clients.length === 0) return;
    await Bun.sleep(5);
  }
}
