/**
 * The live feed: events per second delivered to one SSE client over loopback (the client in its
 * own process, as a browser would be), and how much one attached client slows the simulation
 * compared with the same run without --serve (the server idle, and with one client).
 */

import { Hooks } from "../../core/harness/plugin/hooks.ts";
import { PluginHost } from "../../core/harness/plugin/host.ts";
import {
  applySets,
  EventBus,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
  runScenario,
  runScenarioAsync,
} from "../../core/index.ts";
import { RngStreams } from "../../core/model/sim/rng.ts";
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
  tail = text.slice(-15);
}
`;

function startLive(clientQueue: number): LiveServer {
  const rng = new RngStreams(1);
  const host = new PluginHost({
    hooks: new Hooks(),
    bus: new EventBus(() => 0),
    rng: (s) => rng.stream(s),
  });
  return host.use(live, { port: 0, clientQueue, replay: 1000 }) as LiveServer;
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

/** Wall seconds of one as-fast-as-possible run observed by `srv`, or as the CLI runs without --serve. */
async function timedRun(run: Run, srv?: LiveServer): Promise<number> {
  const t0 = Bun.nanoseconds(); // host clock: a benchmark
  if (srv === undefined) runScenario(run.raw, run.scn, run.table);
  else await runScenarioAsync(run.raw, run.scn, run.table, { observers: [srv.observer] });
  return (Bun.nanoseconds() - t0) / 1e9; // host clock
}

export default async function ({ quick }: { quick: boolean }): Promise<void> {
  const duration = quick ? "5ms" : "20ms";
  const reps = quick ? 3 : 7;
  const run = await scenario(duration);

  header(
    `Live feed: default scenario, direct path, ${duration} simulated, one SSE client in its own process`,
  );
  // Delivery: a queue big enough to take the whole run, so the rate is what the client got.
  const big = startLive(1 << 21);
  try {
    const rates: number[] = [];
    let events = 0;
    for (let i = 0; i < reps; i++) {
      const r = await reader(big);
      await timedRun(run, big);
      const got = await r.result();
      events = got.events;
      rates.push(got.events / (got.ms / 1e3));
    }
    row("events/s delivered to one SSE client", rates, "events/s", 200_000);
    note(
      "  events per run",
      `${fmt(events)}, all delivered (a 2M-entry queue, not the CLI's 4096)`,
    );
  } finally {
    await big.stop();
  }

  // Slowdown against a run without --serve; the server has the CLI's options (queue 4096).
  // Per repetition: no server, the server with no client, the server with one client.
  const srv = startLive(4096);
  try {
    await timedRun(run, srv); // warm-up
    const alone: number[] = [];
    const idle: number[] = [];
    const watched: number[] = [];
    let delivered = 0;
    for (let i = 0; i < reps; i++) {
      alone.push(await timedRun(run));
      idle.push(await timedRun(run, srv));
      const r = await reader(srv);
      watched.push(await timedRun(run, srv));
      delivered = (await r.result()).events;
    }
    const slower = (xs: number[]) => xs.map((x, i) => (x / alone[i]! - 1) * 100);
    row("slowdown, --serve with no client (vs no --serve)", slower(idle), "%", { max: 5 });
    row("slowdown, --serve with one SSE client (vs no --serve)", slower(watched), "%", {
      max: 15,
    });
    note(
      "  run wall time: no --serve / no client / one client",
      `${(median(alone) * 1e3).toFixed(1)} / ${(median(idle) * 1e3).toFixed(1)} / ${(median(watched) * 1e3).toFixed(1)} ms` +
        `; the client got ${fmt(delivered)} events (the CLI's queue of 4096)`,
    );
  } finally {
    await srv.stop();
  }
}
