import { PluginError } from "../../input/errors.ts";
import type { EventBus } from "../events/bus.ts";
import type { Hypervisor } from "../hv/hypervisor.ts";
import type { CostModel } from "../machine/cost-model.ts";
import { ANY_VCPU, type DomainCpu } from "../machine/cpu.ts";
import type { Proc, Simulator } from "../sim/kernel.ts";
import type { Lock } from "../sim/lock.ts";
import type { GlobalPolicy } from "./policy.ts";
import { MeterLog } from "./policy-meter.ts";
import { PolicyReplay } from "./policy-replay.ts";

export type GlobalPolicyMaker = (
  devhandle: number,
  windowPages: number,
  guests: readonly number[],
  meter: MeterLog,
) => GlobalPolicy;

/**
 * The broker's global policy per root complex's window, and the record of their calls: every
 * call goes through call(), which reports a broken policy by name, and is replayed later on the
 * control-domain strand that serves the request (or on a thread of its own, see the broker).
 */
export class WindowPolicies {
  private policies = new Map<number, GlobalPolicy>();
  private replays = new Map<number, PolicyReplay>();

  constructor(
    private readonly env: {
      sim: Simulator;
      hv: Hypervisor;
      cost: CostModel;
      bus?: EventBus;
      policy: GlobalPolicyMaker;
    },
    /** Counts a policy error (the broker's stats). */
    private readonly onError: () => void,
  ) {}

  /** A fresh policy per window (at boot and after a broker restart). */
  make(): void {
    const { sim, hv, cost } = this.env;
    const guests = hv.domains.filter((d) => d.role === "guest").map((d) => d.id);
    this.policies = new Map();
    this.replays = new Map();
    for (const io of hv.iommus.values()) {
      const meter = new MeterLog();
      this.policies.set(io.devhandle, this.env.policy(io.devhandle, io.windowPages, guests, meter));
      const name = `${hv.control.name}/global@0x${io.devhandle.toString(16)}`;
      this.replays.set(io.devhandle, new PolicyReplay(sim, meter, cost, name));
    }
  }

  /** The policies are lost (the broker crashed). */
  clear(): void {
    this.policies.clear();
  }

  get(devhandle: number): GlobalPolicy | undefined {
    return this.policies.get(devhandle);
  }

  devhandles(): IterableIterator<number> {
    return this.policies.keys();
  }

  /**
   * Runs `fn` on `devhandle`'s policy and records the call; a broken policy is reported by name
   * and its answer treated as no answer (undefined, as for a window without a policy).
   */
  call<T>(devhandle: number, hook: string, fn: (p: GlobalPolicy) => T): T | undefined {
    const policy = this.policies.get(devhandle);
    if (policy === undefined) return undefined;
    try {
      return fn(policy);
    } catch (e) {
      const err = e instanceof PluginError ? e : PluginError.wrap("global-policy", hook, e);
      this.onError();
      if (this.env.bus?.wants("plugin.error"))
        this.env.bus.emit("plugin.error", {
          plugin: err.plugin,
          hook: err.hook,
          message: err.message,
        });
      return undefined;
    } finally {
      this.replays.get(devhandle)?.endCall();
    }
  }

  /** True when calls wait to be replayed. */
  get pending(): boolean {
    for (const r of this.replays.values()) if (r.meter.length > 0) return true;
    return false;
  }

  /** From a thread holding control-domain vCPU `v`: replays the calls so far; returns the vCPU held after. */
  *replay(cpu: DomainCpu, v: number): Proc<number> {
    for (const r of this.replays.values()) v = yield* r.replay(cpu, v, ANY_VCPU);
    return v;
  }

  /** The policies' locks (hold and wait figures). */
  locks(): readonly Lock[] {
    return [...this.replays.values()].flatMap((r) => r.allLocks());
  }
}
