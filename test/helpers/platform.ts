import { type CoreHooks, Hooks } from "../../core/harness/plugin/hooks.ts";
import { PluginHost } from "../../core/harness/plugin/host.ts";
import type { GuestDmaOptions } from "../../core/model/domains/guest-dma-types.ts";
import { Platform } from "../../core/model/domains/platform.ts";
import type { GlobalPolicyFactory, LocalPolicyFactory } from "../../core/model/domains/policy.ts";
import { EventBus } from "../../core/model/events/bus.ts";
import { parseCostModel } from "../../core/model/machine/parse.ts";
import type { Proc } from "../../core/model/sim/kernel.ts";
import { RngStreams } from "../../core/model/sim/rng.ts";
import bitmapNextFit from "../../plugins/policies/bitmap-next-fit.ts";
import firstFit from "../../plugins/policies/first-fit.ts";
import { smallMachine } from "./small-machine.ts";

/** A booted small machine with the simple policies (checked by the host), for domain-level tests. */
export function bootSmall(
  opts: Parameters<typeof smallMachine>[0] & {
    guestDma?: Partial<GuestDmaOptions>;
    lossRate?: number;
    /** Decides each packet's fate on a guest's channel (see LdcOptions.fate). */
    fate?: (channel: number, pkt: Uint8Array, from: number) => 0 | 1 | 2 | 3;
    seed?: number;
    cost?: Record<string, number>;
  } = {},
) {
  const bus = new EventBus(() => platformRef.sim.now);
  const rng = new RngStreams(opts.seed ?? 1);
  const host = new PluginHost({ hooks: new Hooks<CoreHooks>(), bus, rng: (s) => rng.stream(s) });
  const global = host.use(firstFit) as GlobalPolicyFactory;
  const local = host.use(bitmapNextFit) as LocalPolicyFactory;
  const platformRef: { sim: { now: number } } = { sim: { now: 0 } };
  const platform = new Platform({
    md: smallMachine(opts),
    cost: parseCostModel(opts.cost ?? {}),
    seed: opts.seed ?? 1,
    globalPolicy: (_d, windowPages, guests, meter) => global({ windowPages, guests, meter }),
    localPolicy: (_g, _d, windowPages, cpus, meter) => local({ windowPages, cpus, meter }),
    guestDma: opts.guestDma,
    ldc: { lossRate: opts.lossRate ?? 0, fate: opts.fate },
    bus,
  });
  platformRef.sim = platform.sim;
  const ports = platform.hv.devices.map((d) => platform.devicePort(d.id));
  return { platform, bus, ports, hv: platform.hv, sim: platform.sim, broker: platform.broker };
}

/** Runs a generator to completion on the platform's simulator and returns its result. */
export function runProc<T>(p: { sim: Platform["sim"] }, gen: Proc<T>, untilNs = 1e9): T {
  const proc = p.sim.spawn(gen, "test");
  p.sim.run(p.sim.now + untilNs);
  if (!proc.finished) throw new Error("process did not finish");
  return proc.done.value as T;
}
