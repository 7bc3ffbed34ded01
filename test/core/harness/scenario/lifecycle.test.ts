/**
 * One run lifecycle: an observer plugin registered in the run's own host sees boot, start,
 * every grant and release, the scenario's guest death, end and result, in that order, with
 * the figures the report shows. `requires` is checked when an observer is registered.
 */
import { describe, expect, test } from "bun:test";
import { Hooks } from "../../../../core/harness/plugin/hooks.ts";
import { PluginHost } from "../../../../core/harness/plugin/host.ts";
import { machineOf } from "../../../../core/harness/scenario/define.ts";
import {
  applySets,
  loadScenarioFile,
  loadScenarioPlugins,
  parseScenario,
} from "../../../../core/harness/scenario/load.ts";
import { runScenario } from "../../../../core/harness/scenario/run-scenario.ts";
import { definePlugin, type PathMetrics, type SimEvent } from "../../../../core/index.ts";
import { InputError } from "../../../../core/input/errors.ts";
import { EventBus } from "../../../../core/model/events/bus.ts";
import type { MachineDescription } from "../../../../core/model/machine/description.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";

const machines: MachineDescription[] = [];

function recorder() {
  const order: string[] = [];
  const grants: number[][] = [];
  const releases: number[][] = [];
  const deaths: [number, string][] = [];
  const results: PathMetrics[] = [];
  const busGrants: SimEvent[] = [];
  const busReleases: SimEvent[] = [];
  const plugin = definePlugin({
    name: "lifecycle-recorder",
    kind: "observer",
    version: "1.0.0",
    requires: ["sampler"],
    setup(ctx) {
      expect(ctx.run?.info.scenario).toBeString();
      ctx.bus.on("dvma.grant", (e) => busGrants.push(e));
      ctx.bus.on("dvma.release", (e) => busReleases.push(e));
      const note = (name: string) => {
        if (order.at(-1) !== name) order.push(name);
      };
      ctx.hooks.hook("boot", (p) => {
        expect(p.hv.domains.length).toBeGreaterThan(1);
        machines.push(p.hv.md);
        note("boot");
      });
      ctx.hooks.hook("start", () => note("start"));
      ctx.hooks.hook("grant", (...a) => {
        grants.push(a);
        note("grant");
      });
      ctx.hooks.hook("release", (...a) => {
        releases.push(a);
        note("release");
      });
      ctx.hooks.hook("death", (d, reason) => {
        deaths.push([d, reason]);
        note("death");
      });
      ctx.hooks.hook("end", () => note("end"));
      ctx.hooks.hook("result", (m) => {
        results.push(m);
        note("result");
      });
    },
  });
  return { plugin, order, grants, releases, deaths, results, busGrants, busReleases };
}

describe("run lifecycle", () => {
  test("boot, start, grant, release, death, end and result fire for real, in order", async () => {
    const raw = applySets(await loadScenarioFile("faults", process.cwd()), ['duration="2ms"']);
    const scn = parseScenario(raw);
    const table = await loadScenarioPlugins(scn, process.cwd());
    const r = recorder();
    const report = runScenario(raw, scn, table, { observers: [r.plugin] });

    expect(r.order.slice(0, 2)).toEqual(["boot", "start"]);
    expect(r.order.slice(-2)).toEqual(["end", "result"]);
    const middle = new Set(r.order.slice(2, -2));
    expect([...middle].sort()).toEqual(["death", "grant", "release"]);
    // Every grant and release the model reported reached the hooks, with the same fields.
    expect(r.grants.length).toBeGreaterThan(0);
    expect(r.releases.length).toBeGreaterThan(0);
    expect(r.grants).toEqual(
      r.busGrants.map((e) => {
        const g = e as Extract<SimEvent, { type: "dvma.grant" }>;
        return [g.domain, g.devhandle, g.base, g.npages];
      }),
    );
    expect(r.releases.length).toBe(r.busReleases.length);
    // The scenario kills ldg2 at 1.5 ms.
    expect(r.deaths).toEqual([[2, "scenario fault"]]);
    expect(r.results).toEqual([report.points[0]!.paths.direct!]);
  });

  test("an untapped model hook costs nothing: its event kinds stay unobserved", async () => {
    const raw = applySets(await loadScenarioFile("faults", process.cwd()), ['duration="200us"']);
    const scn = parseScenario(raw);
    const table = await loadScenarioPlugins(scn, process.cwd());
    let wanted: boolean | undefined;
    const quiet = definePlugin({
      name: "quiet",
      kind: "observer",
      version: "1.0.0",
      setup(ctx) {
        ctx.hooks.hook("start", () => {
          wanted = ctx.bus.wants("dvma.grant") || ctx.bus.wants("dvma.release");
        });
      },
    });
    runScenario(raw, scn, table, { observers: [quiet] });
    expect(wanted).toBe(false);
  });

  test("a point's machine is parsed once: every run of the point boots the same frozen description", async () => {
    const raw = applySets(await loadScenarioFile("default", process.cwd()), ['duration="100us"']);
    const scn = parseScenario(raw);
    const table = await loadScenarioPlugins(scn, process.cwd());
    expect(machineOf(scn)).toBe(machineOf(scn));
    expect(Object.isFrozen(machineOf(scn).domains[0])).toBe(true);
    machines.length = 0;
    const r = recorder();
    runScenario(raw, scn, table, { observers: [r.plugin] });
    // default compares direct, service-domain and bare-metal; direct and bare-metal boot the point's machine as parsed.
    expect(machines.length).toBe(3);
    expect(machines[0]).toBe(machines[2]!);
    expect(Object.isFrozen(machines[0])).toBe(true);
  });

  test("requires is checked at registration: an observer needing the sampler fails without it", () => {
    const host = new PluginHost({
      hooks: new Hooks(),
      bus: new EventBus(() => 0),
      rng: () => new Rng(1),
    });
    let thrown: unknown;
    try {
      host.use(recorder().plugin);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(InputError);
    expect((thrown as Error).message).toBe(
      'plugin "lifecycle-recorder" requires "sampler", which is not registered; register it first',
    );
  });
});
