import type { PolicyMaker } from "../core/harness/explore/index.ts";
import { type CoreHooks, Hooks } from "../core/harness/plugin/hooks.ts";
import { PluginHost } from "../core/harness/plugin/host.ts";
import type { GlobalPolicyFactory, LocalPolicyFactory } from "../core/model/domains/policy.ts";
import { MeterLog } from "../core/model/domains/policy-meter.ts";
import { EventBus } from "../core/model/events/bus.ts";
import { RngStreams } from "../core/model/sim/rng.ts";
import bitmapNextFit from "../plugins/policies/bitmap-next-fit.ts";
import firstFit from "../plugins/policies/first-fit.ts";

/**
 * The default policies (first-fit in the broker, bitmap next-fit in guests), behind the host's
 * checks. The host and its factories are made once (registering validates each plugin's options,
 * about 8% of a world's boot); every boot still gets policies of its own from them. Neither
 * policy draws from the host's random streams, so sharing the host changes no run.
 */
let made: { global: GlobalPolicyFactory; local: LocalPolicyFactory } | undefined;
export const explorePolicies: PolicyMaker = () => {
  if (made === undefined) {
    const rng = new RngStreams(1);
    const host = new PluginHost({
      hooks: new Hooks<CoreHooks>(),
      bus: new EventBus(() => 0),
      rng: (s) => rng.stream(s),
    });
    made = {
      global: host.use(firstFit) as GlobalPolicyFactory,
      local: host.use(bitmapNextFit) as LocalPolicyFactory,
    };
  }
  const { global, local } = made;
  return {
    globalPolicy: (_d, windowPages, guests) =>
      global({ windowPages, guests, meter: new MeterLog() }),
    localPolicy: (_g, _d, windowPages, cpus) => local({ windowPages, cpus, meter: new MeterLog() }),
  };
};
