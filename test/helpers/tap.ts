import { definePlugin, type EventBus, type Plugin } from "../../core/index.ts";

/** An observer plugin that hands each run's bus to `fn` (tests subscribe to events with it). */
export function tap(fn: (bus: EventBus) => void): Plugin<"observer"> {
  return definePlugin({
    name: "test-tap",
    kind: "observer",
    version: "1.0.0",
    setup(ctx) {
      fn(ctx.bus);
    },
  });
}
