import type { PolicyMaker } from "../core/harness/explore/index.ts";
import { type CoreHooks, Hooks } from "../core/harness/plugin/hooks.ts";
import { PluginHost } from "../core/harness/plugin/host.ts";
import type { GlobalPolicyFactory, LocalPolicyFactory } from "../core/model/domains/policy.ts";
import { MeterLog } from "../core/model/domains/policy-meter.ts";
import { EventBus } from "../core/model/events/bus.ts";
import { RngStreams } from "../core/model/sim/rng.ts";
import bitmapNextFit from "../plugins/policies/bitmap-next-fit.ts";
import firstFit from "../plugins/policies/first-fit.ts";

/** The default policies (first-fit in the broker, bitmap next-fit in guests), behind the host's checks. */
export const explorePolicies: PolicyMaker = () => {
  const rng = new RngStreams(1);
  const host = new PluginHost({
    hooks: new Hooks<CoreHooks>(),
    bus: new EventBus(() => 0),
    rng: (s) => rng.stream(s),
  });
  const global = host.use(firstFit) as GlobalPolicyFactory;
  const local = host.use(bitmapNextFit) as LocalPolicyFactory;
  return {
    globalPolicy: (_d, windowPages, guests) =>
      global({ windowPages, guests, meter: new MeterLog() }),
    localPolicy: (_g, _d, windowPages, cpus) => local({ windowPages, cpus, meter: new MeterLog() }),
  };
};
