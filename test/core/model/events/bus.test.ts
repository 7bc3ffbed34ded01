import { describe, expect, test } from "bun:test";
import { EventBus, type SimEvent } from "../../../../core/model/events/index.ts";

function clock() {
  let now = 0;
  let reads = 0;
  return {
    fn: () => {
      reads++;
      return now;
    },
    set: (t: number) => {
      now = t;
    },
    get reads() {
      return reads;
    },
  };
}

const grant = { domain: 1, devhandle: 0, base: 0, npages: 4 };

describe("EventBus", () => {
  test("an unobserved bus wants nothing and never reads the clock", () => {
    const c = clock();
    const bus = new EventBus(c.fn);
    expect(bus.wants("hcall")).toBe(false);
    expect(bus.wants("dvma.grant")).toBe(false);
    for (let i = 0; i < 1000; i++) bus.emit("dvma.grant", grant);
    expect(c.reads).toBe(0);
    expect(bus.listenerCount()).toBe(0);
  });

  test("wants follows typed and wildcard listeners, and unsubscribe", () => {
    const bus = new EventBus(() => 0);
    const off = bus.on("hcall", () => {});
    expect(bus.wants("hcall")).toBe(true);
    expect(bus.wants("metric")).toBe(false);
    const offAll = bus.on("*", () => {});
    expect(bus.wants("metric")).toBe(true);
    expect(bus.listenerCount("hcall")).toBe(2);
    expect(bus.listenerCount("*")).toBe(1);
    expect(bus.listenerCount()).toBe(2);
    offAll();
    offAll(); // idempotent
    expect(bus.wants("metric")).toBe(false);
    off();
    expect(bus.wants("hcall")).toBe(false);
    expect(bus.listenerCount()).toBe(0);
  });

  test("emit builds {type, t, ...fields} once and calls listeners in registration order", () => {
    const c = clock();
    c.set(1234);
    const bus = new EventBus(c.fn);
    const seen: string[] = [];
    const objects: SimEvent[] = [];
    bus.on("*", (e) => {
      seen.push(`*1 ${e.type}`);
      objects.push(e);
    });
    bus.on("dvma.grant", (e) => {
      seen.push(`grant ${e.base}`);
      objects.push(e);
    });
    bus.on("*", (e) => {
      seen.push(`*2 ${e.type}`);
      objects.push(e);
    });
    bus.emit("dvma.grant", grant);
    bus.emit("metric", { domain: 0, name: "x", value: 1 });
    expect(seen).toEqual(["*1 dvma.grant", "grant 0", "*2 dvma.grant", "*1 metric", "*2 metric"]);
    expect(objects[0]).toEqual({ type: "dvma.grant", t: 1234, ...grant });
    expect(Object.keys(objects[0])).toEqual(["type", "t", "domain", "devhandle", "base", "npages"]);
    expect(objects[1]).toBe(objects[0]);
    expect(objects[2]).toBe(objects[0]);
    expect(c.reads).toBe(2);
  });

  test("a throwing listener does not stop the others and is reported once as plugin.error", () => {
    const bus = new EventBus(() => 7);
    const errors: SimEvent[] = [];
    const after: number[] = [];
    bus.scoped("noisy").on("dvma.grant", () => {
      throw new Error("listener broke");
    });
    bus.on("dvma.grant", (e) => after.push(e.base));
    bus.on("plugin.error", (e) => errors.push(e));
    expect(() => bus.emit("dvma.grant", grant)).not.toThrow();
    expect(after).toEqual([0]);
    expect(errors).toEqual([
      {
        type: "plugin.error",
        t: 7,
        plugin: "noisy",
        hook: "on dvma.grant",
        message: "listener broke",
      },
    ]);
    expect(bus.listenerErrors).toBe(1);
    expect((bus.lastListenerError as Error).message).toBe("listener broke");
  });

  test("a wildcard listener that always throws cannot recurse", () => {
    const bus = new EventBus(() => 0);
    let calls = 0;
    bus.on("*", () => {
      calls++;
      throw "always";
    });
    const errors: SimEvent[] = [];
    bus.on("plugin.error", (e) => errors.push(e));
    bus.emit("metric", { domain: 0, name: "x", value: 1 });
    // once for metric, once for the plugin.error it caused; that second failure is only counted
    expect(calls).toBe(2);
    expect(errors.length).toBe(1);
    expect(bus.listenerErrors).toBe(2);
    bus.emit("metric", { domain: 0, name: "x", value: 2 });
    expect(errors.length).toBe(2);
  });

  test("listeners added or removed during an emit do not disturb it", () => {
    const bus = new EventBus(() => 0);
    const seen: string[] = [];
    let offB: () => void = () => {};
    bus.on("hcall", () => {
      seen.push("a");
      offB();
      bus.on("hcall", () => seen.push("late"));
    });
    offB = bus.on("hcall", () => seen.push("b"));
    bus.emit("hcall", { domain: 0, fn: "x", status: 0, count: 0, durNs: 0 });
    expect(seen).toEqual(["a", "b"]);
    seen.length = 0;
    bus.emit("hcall", { domain: 0, fn: "x", status: 0, count: 0, durNs: 0 });
    expect(seen).toEqual(["a", "late"]);
  });

  test("scoped views share listeners and the clock", () => {
    const bus = new EventBus(() => 42);
    const view = bus.scoped("observer");
    const got: number[] = [];
    const off = view.on("metric", (e) => got.push(e.t));
    expect(bus.wants("metric")).toBe(true);
    bus.emit("metric", { domain: 0, name: "x", value: 0 });
    expect(got).toEqual([42]);
    expect(view.now()).toBe(42);
    off();
    expect(bus.wants("metric")).toBe(false);
  });

  test("rejects a non-function listener", () => {
    const bus = new EventBus(() => 0);
    expect(() => bus.on("hcall", 3 as never)).toThrow(TypeError);
  });
});
