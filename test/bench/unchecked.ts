/**
 * A policy plugin's factory built by a PluginHost with `checkPolicies: false`: the checked
 * wrapper keeps a ledger of its own and would be measured instead of the policy.
 */

import type { AnyPlugin } from "../../core/harness/plugin/define.ts";
import { Hooks } from "../../core/harness/plugin/hooks.ts";
import { PluginHost } from "../../core/harness/plugin/host.ts";
import type { CoreHooks } from "../../core/index.ts";
import { EventBus } from "../../core/model/events/index.ts";
import { fnv1a32, Rng } from "../../core/model/sim/rng.ts";

export function unchecked(plugin: AnyPlugin): unknown {
  const host = new PluginHost({
    hooks: new Hooks<CoreHooks>(),
    bus: new EventBus(() => 0),
    rng: (s) => new Rng(fnv1a32(s)),
    checkPolicies: false,
  });
  return host.use(plugin);
}
