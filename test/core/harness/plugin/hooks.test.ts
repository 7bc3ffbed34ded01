import { describe, expect, test } from "bun:test";
import { Hooks } from "../../../../core/harness/plugin/hooks.ts";
import { type CoreHooks, PluginError } from "../../../../core/index.ts";

function caught(fn: () => unknown): PluginError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PluginError);
    return e as PluginError;
  }
  throw new Error("expected a PluginError");
}

describe("Hooks", () => {
  test("calls hooks in registration order with their arguments, synchronously", () => {
    const hooks = new Hooks<CoreHooks>();
    const seen: string[] = [];
    hooks.hook("grant", (d, dh, base, n) => seen.push(`a ${d} ${dh} ${base} ${n}`));
    hooks.hook("grant", (d) => seen.push(`b ${d}`));
    hooks.hook("start", () => seen.push("start"));
    const r = hooks.callSync("grant", 1, 0x200, 64, 8);
    expect(r).toBeUndefined();
    expect(seen).toEqual(["a 1 512 64 8", "b 1"]);
    expect(hooks.has("grant")).toBe(true);
    expect(hooks.has("release")).toBe(false);
    expect(hooks.count("grant")).toBe(2);
    hooks.callSync("release", 1, 0, 0, 1); // nobody listens: no-op
  });

  test("unregister removes exactly that hook and is idempotent", () => {
    const hooks = new Hooks<CoreHooks>();
    const seen: number[] = [];
    const off1 = hooks.hook("death", (d) => seen.push(d));
    hooks.hook("death", (d) => seen.push(d * 10));
    off1();
    off1();
    hooks.callSync("death", 2, "test");
    expect(seen).toEqual([20]);
  });

  test("a throwing hook becomes a PluginError naming plugin and hook, and stops the call", () => {
    const hooks = new Hooks<CoreHooks>();
    const seen: string[] = [];
    const cause = Object.assign(new Error("no such domain"), { code: "E_DOM" });
    hooks.hook("death", () => seen.push("first"), { plugin: "a" });
    hooks.hook(
      "death",
      () => {
        throw cause;
      },
      { plugin: "reaper" },
    );
    hooks.hook("death", () => seen.push("third"), { plugin: "c" });
    const e = caught(() => hooks.callSync("death", 4, "test"));
    expect(e.message).toBe("[plugin reaper] death: no such domain");
    expect(e.plugin).toBe("reaper");
    expect(e.hook).toBe("death");
    expect(e.code).toBe("PLUGIN_ERROR");
    expect(e.pluginCode).toBe("E_DOM");
    expect(e.cause).toBe(cause);
    expect(seen).toEqual(["first"]);
  });

  test("a hook returning a Promise is an error (hooks are synchronous)", () => {
    const hooks = new Hooks<CoreHooks>();
    hooks.hook("end", (async () => {}) as () => void, { plugin: "lazy" });
    const e = caught(() => hooks.callSync("end"));
    expect(e.message).toContain("returned a Promise");
    expect(e.plugin).toBe("lazy");
  });

  test("scoped views tag registrations and share the table", () => {
    const hooks = new Hooks<CoreHooks>();
    const mine = hooks.scoped("observer-x");
    mine.hook("start", () => {
      throw new Error("nope");
    });
    expect(hooks.has("start")).toBe(true);
    expect(hooks.registered()).toEqual([{ hook: "start", plugin: "observer-x" }]);
    expect(caught(() => hooks.callSync("start")).plugin).toBe("observer-x");
    const anon = new Hooks<CoreHooks>();
    anon.hook("start", () => {
      throw "s";
    });
    expect(caught(() => anon.callSync("start")).message).toBe("[plugin anonymous] start: s");
  });

  test("hooks added during a call run from the next call on", () => {
    const hooks = new Hooks<CoreHooks>();
    const seen: string[] = [];
    hooks.hook("start", () => {
      seen.push("a");
      hooks.hook("start", () => seen.push("late"));
    });
    hooks.callSync("start");
    expect(seen).toEqual(["a"]);
  });

  test("custom hook maps are typed", () => {
    interface MyHooks {
      "tick:metric": (name: string, value: number) => void;
    }
    const hooks = new Hooks<MyHooks>();
    let got = "";
    hooks.hook("tick:metric", (n, v) => {
      got = `${n}=${v}`;
    });
    hooks.callSync("tick:metric", "iops", 5);
    expect(got).toBe("iops=5");
    // @ts-expect-error wrong argument type
    hooks.callSync("tick:metric", 5, "iops");
    expect(() => hooks.hook("tick:metric", 3 as never)).toThrow(PluginError);
  });
});
