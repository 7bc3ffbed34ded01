import { describe, expect, test } from "bun:test";
import {
  isPlugin,
  PLUGIN_BRAND,
  type PluginProvides,
} from "../../../../core/harness/plugin/define.ts";
import { definePlugin, InputError, PluginError, Type } from "../../../../core/index.ts";

describe("definePlugin", () => {
  test("returns the definition frozen and branded; infers option types from the schema", () => {
    const p = definePlugin({
      name: "acme/watcher",
      kind: "observer",
      version: "0.1.0",
      options: Type.Object({
        every: Type.Integer({ default: 10 }),
        label: Type.Optional(Type.String()),
      }),
      setup(_ctx, options) {
        const every: number = options.every;
        const label: string | undefined = options.label;
        void every;
        void label;
      },
    });
    expect(isPlugin(p)).toBe(true);
    expect(p[PLUGIN_BRAND]).toBe(true);
    expect(Object.isFrozen(p)).toBe(true);
    expect(p.name).toBe("acme/watcher");
    expect(p.requires).toEqual([]);
    expect(isPlugin({ ...{ name: "x" } })).toBe(false);
    expect(isPlugin(null)).toBe(false);
  });

  test("the kind types what setup returns", () => {
    const p = definePlugin({
      name: "tiny",
      kind: "policy.local",
      version: "1.0.0",
      setup: () => () => ({
        addRange() {},
        removeRange() {},
        alloc: () => -1,
        free() {},
        stats: () => ({ allocatedPages: 0, freePages: 0, allocations: 0, failures: 0 }),
      }),
    });
    const f: PluginProvides["policy.local"] = p.setup({} as never, {});
    expect(typeof f).toBe("function");
    definePlugin({
      name: "wrong",
      kind: "policy.global",
      version: "1",
      // @ts-expect-error a global policy plugin must return a GlobalPolicyFactory
      setup: () => 42,
    });
  });

  test("rejects bad names, kinds, versions and shapes with an InputError", () => {
    const base = { kind: "observer" as const, version: "1.0.0", setup() {} };
    for (const name of ["First-Fit", "1x", "a b", "a/b/c", "", "x_y", "/x"]) {
      expect(() => definePlugin({ ...base, name })).toThrow(InputError);
    }
    for (const name of ["a", "first-fit", "acme/nic-x2", "x9"])
      expect(isPlugin(definePlugin({ ...base, name }))).toBe(true);
    try {
      definePlugin({ ...base, name: "Bad", kind: "gadget", version: "" } as never);
      throw new Error("unreachable");
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      const m = (e as Error).message;
      expect(m).toContain('name "Bad" must match');
      expect(m).toContain(
        'kind "gadget" must be one of policy.global, policy.local, device, workload, path, observer',
      );
      expect(m).toContain("version must be a non-empty string");
    }
    expect(() =>
      definePlugin({ ...base, name: "x", options: { type: "object" } as never }),
    ).toThrow("TypeBox schema");
    expect(() => definePlugin({ ...base, name: "x", requires: ["Nope"] })).toThrow(
      "is not a plugin name",
    );
    expect(() => definePlugin({ ...base, name: "x", setup: undefined as never })).toThrow(
      "setup must be a function",
    );
  });
});

describe("PluginError", () => {
  test("rollup-style fields and message", () => {
    const cause = new RangeError("bad page");
    const e = new PluginError("first-fit", "grant", "returned -3", { value: -3, cause });
    expect(e.message).toBe("[plugin first-fit] grant: returned -3");
    expect([e.code, e.plugin, e.hook, e.value, e.cause]).toEqual([
      "PLUGIN_ERROR",
      "first-fit",
      "grant",
      -3,
      cause,
    ]);
    expect("value" in new PluginError("p", "h", "m")).toBe(false);
    expect(PluginError.wrap("q", "h", e)).toBe(e);
    expect(PluginError.wrap("q", "h", { weird: 1 }).message).toBe(
      '[plugin q] h: threw {"weird":1}',
    );
  });
});
