import { describe, expect, test } from "bun:test";
import { Hooks } from "../../../core/harness/plugin/hooks.ts";
import { type CoreHooks, PluginError } from "../../../core/index.ts";

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
    hooks.hook("dvma:grant", (d, dh, base, n) => seen.push(`a ${d} ${dh} ${base} ${n}`));
    hooks.hook("dvma:grant", (d) => seen.push(`b ${d}`));
    hooks.hook("run:start", () => seen.push("start"));
    const r = hooks.callSync("dvma:grant", 1, 0x200, 64, 8);
    expect(r).toBeUndefined();
    expect(seen).toEqual(["a 1 512 64 8", "b 1"]);
    expect(hooks.has("dvma:grant")).toBe(true);
    expect(hooks.has("dvma:release")).toBe(false);
    expect(hooks.count("dvma:grant")).toBe(2);
    hooks.callSync("dvma:release", 1, 0, 0, 1); // nobody listens: no-op
  });

  test("unregister removes exactly that hook and is idempotent", () => {
    const hooks = new Hooks<CoreHooks>();
    const seen: number[] = [];
    const off1 = hooks.hook("domain:death", (d) => seen.push(d));
    hooks.hook("domain:death", (d) => seen.push(d * 10));
    off1();
    off1();
    hooks.callSync("domain:death", 2);
    expect(seen).toEqual([20]);
  });

  test("a throwing hook becomes a PluginError naming plugin and hook, and stops the call", () => {
    const hooks = new Hooks<CoreHooks>();
    const seen: string[] = [];
    const cause = Object.assign(new Error("no such domain"), { code: "E_DOM" });
    hooks.hook("domain:death", () => seen.push("first"), { plugin: "a" });
    hooks.hook(
      "domain:death",
      () => {
        throw cause;
      },
      { plugin: "reaper" },
    );
    hooks.hook("domain:death", () => seen.push("third"), { plugin: "c" });
    const e = caught(() => hooks.callSync("domain:death", 4));
    expect(e.message).toBe("[plugin reaper] domain:death: no such domain");
    expect(e.plugin).toBe("reaper");
    expect(e.hook).toBe("domain:death");
    expect(e.code).toBe("PLUGIN_ERROR");
    expect(e.pluginCode).toBe("E_DOM");
    expect(e.cause).toBe(cause);
    expect(seen).toEqual(["first"]);
  });

  test("a hook returning a Promise is an error (hooks are synchronous)", () => {
    const hooks = new Hooks<CoreHooks>();
    hooks.hook("run:end", (async () => {}) as () => void, { plugin: "lazy" });
    const e = caught(() => hooks.callSync("run:end"));
    expect(e.message).toContain("returned a Promise");
    expect(e.plugin).toBe("lazy");
  });

  test("scoped views tag registrations and share the table", () => {
    const hooks = new Hooks<CoreHooks>();
    const mine = hooks.scoped("observer-x");
    mine.hook("run:start", () => {
      throw new Error("nope");
    });
    expect(hooks.has("run:start")).toBe(true);
    expect(hooks.registered()).toEqual([{ hook: "run:start", plugin: "observer-x" }]);
    expect(caught(() => hooks.callSync("run:start")).plugin).toBe("observer-x");
    const anon = new Hooks<CoreHooks>();
    anon.hook("run:start", () => {
      throw "s";
    });
    expect(caught(() => anon.callSync("run:start")).message).toBe(
      "[plugin anonymous] run:start: s",
    );
  });

  test("hooks added during a call run from the next call on", () => {
    const hooks = new Hooks<CoreHooks>();
    const seen: string[] = [];
    hooks.hook("run:start", () => {
      seen.push("a");
      hooks.hook("run:start", () => seen.push("late"));
    });
    hooks.callSync("run:start");
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
