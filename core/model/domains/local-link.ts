import type { CostModel } from "../machine/cost-model.ts";
import { ANY_VCPU, type DomainCpu } from "../machine/cpu.ts";
import { PAGE_SIZE } from "../machine/memory.ts";
import type { Proc } from "../sim/kernel.ts";
import type { DvmaBroker } from "./broker.ts";
import type { BrokerLink } from "./broker-client.ts";
import { type Message, Msg, message } from "./protocol.ts";

/**
 * The control domain's own way to DVMA (for its drivers on the service-domain path): the same
 * broker, policy and hypervisor ledger as guests use, reached by a call instead of LDC.
 */
export class LocalBrokerLink implements BrokerLink {
  constructor(
    private readonly broker: DvmaBroker,
    private readonly windowBase: (devhandle: number) => number,
    private readonly cpu: DomainCpu,
    private readonly cost: CostModel,
  ) {}

  /** No version to agree: the broker runs in the same domain. */
  // biome-ignore lint/correctness/useYield: the interface is a generator; this one needs no wait.
  *handshake(): Proc<boolean> {
    return true;
  }

  /** The broker's work runs on a control-domain strand, like any of its requests. */
  *ask(m: Message): Proc<Message | null> {
    const v = yield* this.cpu.take(ANY_VCPU);
    yield this.cost.brokerRequestCpuNs;
    const reply = this.serve(m);
    this.cpu.free(yield* this.broker.settle(v));
    return reply;
  }

  private serve(m: Message): Message | null {
    const base = this.windowBase(m.devhandle);
    if (m.kind === Msg.DVMA_REQ) {
      const index = this.broker.grantSelf(m.devhandle, m.npages, m.align);
      if (index < 0) return message(Msg.DVMA_NACK, { id: m.id, reason: "no-space" });
      return message(Msg.DVMA_GRANT, {
        id: m.id,
        devhandle: m.devhandle,
        base: base + index * PAGE_SIZE,
        npages: m.npages,
      });
    }
    if (m.kind === Msg.DVMA_RELEASE) {
      this.broker.releaseSelf(m.devhandle, (m.base - base) / PAGE_SIZE, m.npages);
      return message(Msg.RELEASE_ACK, {
        id: m.id,
        devhandle: m.devhandle,
        base: m.base,
        npages: m.npages,
      });
    }
    return null;
  }
}
