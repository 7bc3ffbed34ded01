/**
 * The live plugin costs nothing while nobody watches: each run registers it in its own host,
 * and it subscribes to the run's bus only while a client is connected, only to the kinds the
 * clients' filters name (plus `io.done` for the chart series). A client that connects mid-run
 * gets events from then on, the sampler's `metric` events included.
 */

import { afterEach, describe, expect, test } from "bun:test";
import {
  applySets,
  definePlugin,
  loadScenarioFile,
  loadScenarioPlugins,
  type ObserverRef,
  parseScenario,
  runScenarioAsync,
} from "../../../core/index.ts";
import type { LiveServer } from "../../../plugins/live/index.ts";
import { eventsOf, readSse, startLive } from "./helpers.ts";

let srv: LiveServer | undefined;
afterEach(async () => {
  await srv?.stop();
  srv = undefined;
});

/** Listeners on the run's bus when the clock starts and when it reaches the end, per run. */
function probe() {
  const seen: { start: number; end: number; hcall: number; ioDone: number; wild: number }[] = [];
  const plugin = definePlugin({
    name: "bus-probe",
    kind: "observer",
    version: "1.0.0",
    setup(ctx) {
      const row = { start: -1, end: -1, hcall: -1, ioDone: -1, wild: -1 };
      seen.push(row);
      ctx.hooks.hook("start", () => {
        row.start = ctx.bus.listenerCount();
      });
      ctx.hooks.hook("end", () => {
        row.end = ctx.bus.listenerCount();
        row.hcall = ctx.bus.listenerCount("hcall");
        row.ioDone = ctx.bus.listenerCount("io.done");
        row.wild = ctx.bus.listenerCount("*");
      });
    },
  });
  return { plugin, seen };
}

async function run(observers: ObserverRef[], drain?: () => Promise<void> | undefined) {
  const cwd = process.cwd();
  const raw = applySets(await loadScenarioFile("default", cwd), [
    'duration="200us"',
    'paths=["direct"]',
  ]);
  const scn = parseScenario(raw);
  const table = await loadScenarioPlugins(scn, cwd);
  return runScenarioAsync(raw, scn, table, { observers, drain });
}

/** Listeners a run's bus holds for the run's own figures (the `attack` tally). */
const OWN = 1;

const call = (s: LiveServer, path: string, init?: RequestInit) =>
  s.app.handle(new Request(new URL(path, s.url).href, init));

describe("live: zero cost when unobserved", () => {
  test("an unobserved bus and an idle live plugin hold no subscription", async () => {
    // The run's own figures tally `attack` events (run-meter.ts): the one listener of a bare run.
    const bare = probe();
    await run([bare.plugin]);
    expect(bare.seen).toEqual([{ start: OWN, end: OWN, hcall: 0, ioDone: 0, wild: 0 }]);

    srv = startLive();
    const idle = probe();
    await run([srv.observer, idle.plugin]);
    expect(idle.seen).toEqual([{ start: OWN, end: OWN, hcall: 0, ioDone: 0, wild: 0 }]);
    // The run is still on the feed: its notices, not its events.
    const state = (await (await call(srv, "/state")).json()) as {
      results: unknown[];
      feed: { lastId: number };
    };
    expect(state.results).toHaveLength(1);
    expect(state.feed.lastId).toBe(2); // the run and result notices
  });

  test("a finished run's machine is freed once a later run finished (only the latest stays, for /state)", async () => {
    srv = startLive();
    const machines: WeakRef<object>[] = [];
    const keep = definePlugin({
      name: "machine-refs",
      kind: "observer",
      version: "1.0.0",
      setup(ctx) {
        ctx.hooks.hook("boot", (platform) => {
          machines.push(new WeakRef(platform));
        });
      },
    });
    for (let i = 0; i < 3; i++) await run([srv.observer, keep]);
    // A WeakRef holds its target until the job that made it ends, and JSC scans stacks
    // conservatively: a stale word may keep a machine for one collection, never for ten.
    const alive = () => machines.map((m) => m.deref() !== undefined);
    for (let i = 0; i < 10 && alive().join() !== "false,false,true"; i++) {
      await Bun.sleep(10);
      Bun.gc(true);
    }
    expect(alive()).toEqual([false, false, true]);
  });

  test("a client subscribes the run to what its filter names; all kinds through one listener", async () => {
    srv = startLive();
    const ac = new AbortController();
    await call(srv, "/events?types=hcall", { signal: ac.signal });
    const some = probe();
    await run([srv.observer, some.plugin]);
    // hcall for the client, io.done for the chart series; no wildcard.
    expect(some.seen[0]).toMatchObject({
      start: OWN + 2,
      end: OWN + 2,
      hcall: 1,
      ioDone: 1,
      wild: 0,
    });
    ac.abort();

    const all = new AbortController();
    await call(srv, "/events", { signal: all.signal });
    const every = probe();
    await run([srv.observer, every.plugin]);
    expect(every.seen[0]).toMatchObject({ start: OWN + 1, end: OWN + 1, wild: 1 });
    all.abort();
  });

  test("a client connecting mid-run gets events from then on, the sampler's metrics included", async () => {
    srv = startLive({ clientQueue: 1 << 20 });
    const live = srv;
    const p = probe();
    let res: Response | undefined;
    const report = run([srv.observer, p.plugin], () => {
      if (res !== undefined) return undefined;
      // Between the first slices: the run has started, nobody listened so far.
      return call(live, "/events").then((r) => {
        res = r;
      });
    });
    await report;
    expect(p.seen[0]!.start).toBe(OWN);
    expect(p.seen[0]!.wild).toBe(1);
    const lastId = ((await (await call(srv, "/state")).json()) as { feed: { lastId: number } }).feed
      .lastId;
    const frames = await readSse(res!, (f) => f.some((x) => x.id === lastId));
    const events = eventsOf(frames);
    expect(events.length).toBeGreaterThan(100);
    expect(events[0]!.data.t).toBeGreaterThan(0);
    expect(events.some((e) => e.data.type === "metric")).toBe(true);
    expect(frames.some((f) => f.event === "result")).toBe(true);
  });
});
