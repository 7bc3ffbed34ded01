import { describe, expect, test } from "bun:test";
import { Hooks } from "../../../../core/harness/plugin/hooks.ts";
import { PluginHost, type PluginHostOptions } from "../../../../core/harness/plugin/host.ts";
import {
  type CoreHooks,
  definePlugin,
  InputError,
  PluginError,
  Type,
} from "../../../../core/index.ts";
import type { CheckedGlobalPolicy } from "../../../../core/model/domains/checked-global.ts";
import { MeterLog } from "../../../../core/model/domains/policy-meter.ts";
import { EventBus, type SimEvent } from "../../../../core/model/events/index.ts";
import { fnv1a32, Rng } from "../../../../core/model/sim/rng.ts";
import firstFit from "../../../../plugins/policies/first-fit.ts";
import observer from "../../../fixtures/plugins/observer.ts";

function makeHost(extra: Partial<PluginHostOptions> = {}) {
  const hooks = new Hooks<CoreHooks>();
  const bus = new EventBus(() => 0);
  const streams: string[] = [];
  const host = new PluginHost({
    hooks,
    bus,
    rng: (name) => {
      streams.push(name);
      return new Rng(fnv1a32(name));
    },
    ...extra,
  });
  return { host, hooks, bus, streams };
}

const plain = (name: string, requires: string[] = []) =>
  definePlugin({ name, kind: "observer", version: "1.0.0", requires, setup() {} });

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a throw");
}

describe("PluginHost", () => {
  test("use() runs setup with a scoped context and returns what it provides", () => {
    const { host, hooks, streams } = makeHost();
    const provides = host.use(firstFit, { maxPagesPerGuest: 8 });
    const policy = provides({ windowPages: 64, guests: [1], meter: new MeterLog() });
    expect(policy.grant(1, 4, 1)).toBe(0);
    expect(policy.grant(1, 8, 1)).toEqual({
      refused: expect.stringContaining("maxPagesPerGuest 8"),
    });
    expect(host.get("policy.global")).toBe(provides);
    expect(host.get("policy.local")).toBeUndefined();
    expect(host.getByName("first-fit")).toMatchObject({
      name: "first-fit",
      kind: "policy.global",
      version: "1.0.0",
      options: { maxPagesPerGuest: 8 },
    });
    host.use(observer);
    expect(host.list().map((r) => r.name)).toEqual(["first-fit", "fixture-observer"]);
    expect(host.all("observer")).toEqual([undefined]);
    expect(host.getByName("fixture-observer")?.options).toEqual({ label: "grants" });
    hooks.callSync("grant", 1, 0, 0, 4);
    hooks.callSync("end");
    expect(host.messages).toEqual([{ plugin: "fixture-observer", message: "grants: 1" }]);
    expect(hooks.registered().map((r) => r.plugin)).toEqual([
      "fixture-observer",
      "fixture-observer",
    ]);
    expect(streams).toEqual([]);
  });

  test("ctx.rng gives each plugin its own named streams, once each", () => {
    const { host, streams } = makeHost();
    const got: unknown[] = [];
    host.use(
      definePlugin({
        name: "dice",
        kind: "workload",
        version: "1",
        setup(ctx) {
          got.push(ctx.rng("arrivals"), ctx.rng("sizes"), ctx.rng("arrivals"));
          return { start() {} };
        },
      }),
    );
    expect(streams).toEqual(["plugin:dice:arrivals", "plugin:dice:sizes"]);
    expect(got[0]).toBe(got[2]);
  });

  test("dependencies must be registered first (Fastify style)", () => {
    const { host } = makeHost();
    const e = thrown(() => host.use(plain("nic", ["iommu-model"])));
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toBe(
      'plugin "nic" requires "iommu-model", which is not registered; register it first',
    );
    host.use(plain("iommu-model"));
    expect(() => host.use(plain("nic", ["iommu-model"]))).not.toThrow();
  });

  test("rejects duplicate names and things that are not plugins", () => {
    const { host } = makeHost();
    host.use(plain("x"));
    const e = thrown(() => host.use(plain("x")));
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toBe('plugin "x" is already registered');
    const f = thrown(() => host.use({ name: "y", kind: "observer", setup() {} } as never));
    expect(f).toBeInstanceOf(InputError);
    expect(f.message).toContain("not a plugin: an object with keys name, kind, setup");
  });

  test("options: defaults, conversion, and an InputError with the path", () => {
    const { host } = makeHost();
    let seen: unknown;
    const p = definePlugin({
      name: "opts",
      kind: "observer",
      version: "1",
      options: Type.Object(
        {
          align: Type.Integer({ minimum: 1, default: 1 }),
          mode: Type.String({ default: "strict" }),
        },
        { additionalProperties: false },
      ),
      setup(_ctx, o) {
        seen = o;
      },
    });
    const e = thrown(() => host.use(p, { align: "x" }));
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toBe(
      'plugin "opts" option /align: Expected integer (got "x"; allowed: integer ≥ 1 (default 1))',
    );
    expect((e as InputError).problems[0].path).toBe("/align");
    expect(host.has("opts")).toBe(false);
    host.use(p, { align: "4" });
    expect(seen).toEqual({ align: 4, mode: "strict" });
    host.use(plain("bare"), {});
    expect(() => host.use(plain("bare2"), { verbose: true })).toThrow(
      'plugin "bare2" takes no options (got {"verbose":true})',
    );
  });

  test("setup errors become PluginError(plugin, 'setup')", () => {
    const { host } = makeHost();
    const boom = definePlugin({
      name: "boom",
      kind: "observer",
      version: "1",
      setup() {
        throw new Error("cannot start");
      },
    });
    const e = thrown(() => host.use(boom)) as PluginError;
    expect(e).toBeInstanceOf(PluginError);
    expect([e.plugin, e.hook, e.message]).toEqual([
      "boom",
      "setup",
      "[plugin boom] setup: cannot start",
    ]);
    expect(host.has("boom")).toBe(false);
    const wrongShape = definePlugin({
      name: "shape",
      kind: "policy.local",
      version: "1",
      setup: () => 5 as never,
    });
    const f = thrown(() => host.use(wrongShape)) as PluginError;
    expect(f).toBeInstanceOf(PluginError);
    expect(f.value).toBe(5);
    expect(f.message).toContain("must return a policy factory");
  });

  test("policy factories come back guarded by the checked wrappers", () => {
    const liar = definePlugin({
      name: "liar",
      kind: "policy.global",
      version: "1",
      setup: () => () => ({
        grant: () => 3,
        revoke() {},
        reclaim() {},
        restore() {},
        stats: () => ({ allocatedPages: 0, freePages: 0, allocations: 0, failures: 0 }),
      }),
    });
    const { host } = makeHost();
    const policy = host.use(liar)({
      windowPages: 16,
      guests: [1],
      meter: new MeterLog(),
    }) as CheckedGlobalPolicy;
    expect(policy.grant(1, 2, 1)).toBe(3);
    const e = thrown(() => policy.grant(1, 2, 1)) as PluginError;
    expect(e).toBeInstanceOf(PluginError);
    expect([e.plugin, e.hook, e.value]).toEqual(["liar", "grant", 3]);
    expect(policy.ownerOf(3)).toBe(1);
    expect(policy.livePages()).toBe(2);

    const reported: PluginError[] = [];
    const quiet = makeHost({ onPolicyError: (err) => reported.push(err) }).host;
    const p2 = quiet.use(liar)({ windowPages: 16, guests: [1], meter: new MeterLog() });
    p2.grant(1, 2, 1);
    expect(p2.grant(1, 2, 1)).toEqual({
      refused: expect.stringContaining("allocation policy error"),
    });
    expect(reported.length).toBe(1);

    const raw = makeHost({ checkPolicies: false }).host.use(liar)({
      windowPages: 16,
      guests: [1],
      meter: new MeterLog(),
    });
    expect([raw.grant(1, 2, 1), raw.grant(1, 2, 1)]).toEqual([3, 3]);

    const hollow = definePlugin({
      name: "hollow",
      kind: "policy.global",
      version: "1",
      setup: () => () => ({}) as never,
    });
    const h = thrown(() =>
      makeHost().host.use(hollow)({ windowPages: 16, guests: [], meter: new MeterLog() }),
    ) as PluginError;
    expect([h.plugin, h.hook]).toEqual(["hollow", "create"]);
    expect(h.message).toContain("no grant() method");
  });

  test("ctx.bus and ctx.hooks name the plugin when its listener or hook throws", () => {
    const { host, hooks, bus } = makeHost();
    host.use(
      definePlugin({
        name: "clumsy",
        kind: "observer",
        version: "1",
        setup(ctx) {
          ctx.bus.on("metric", () => {
            throw new Error("listener bug");
          });
          ctx.hooks.hook("death", () => {
            throw new Error("hook bug");
          });
        },
      }),
    );
    const errors: SimEvent[] = [];
    bus.on("plugin.error", (e) => errors.push(e));
    bus.emit("metric", { domain: 0, name: "x", value: 1 });
    expect(errors).toEqual([
      { type: "plugin.error", t: 0, plugin: "clumsy", hook: "on metric", message: "listener bug" },
    ]);
    const e = thrown(() => hooks.callSync("death", 1, "test")) as PluginError;
    expect(e.message).toBe("[plugin clumsy] death: hook bug");
  });

  test("a custom log function receives ctx.log", () => {
    const lines: string[] = [];
    const { host } = makeHost({ log: (p, m) => lines.push(`${p}: ${m}`) });
    host.use(
      definePlugin({
        name: "chatty",
        kind: "observer",
        version: "1",
        setup: (ctx) => ctx.log("hello"),
      }),
    );
    expect(lines).toEqual(["chatty: hello"]);
    expect(host.messages).toEqual([]);
  });
});
