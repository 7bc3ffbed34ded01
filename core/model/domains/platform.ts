import type { EventBus } from "../events/bus.ts";
import { Hypervisor } from "../hv/hypervisor.ts";
import { LdcChannel } from "../hv/ldc.ts";
import type { CostModel } from "../machine/cost-model.ts";
import { DomainCpu } from "../machine/cpu.ts";
import type { MachineDescription } from "../machine/description.ts";
import { Simulator } from "../sim/kernel.ts";
import { RngStreams } from "../sim/rng.ts";
import { DvmaBroker } from "./broker.ts";
import { BrokerClient, type BrokerLink } from "./broker-client.ts";
import { DevicePort, type DuplexLink, duplexLink } from "./device-port.ts";
import { GuestDmaApi } from "./guest-dma.ts";
import type { GuestDmaOptions } from "./guest-dma-types.ts";
import { GuestMemory } from "./guest-memory.ts";
import { LocalBrokerLink } from "./local-link.ts";
import type { GlobalPolicy, LocalPolicy } from "./policy.ts";
import { MeterLog } from "./policy-meter.ts";
import { PolicyReplay } from "./policy-replay.ts";
import { labelPacket } from "./protocol.ts";

export interface PlatformConfig {
  md: MachineDescription;
  cost: CostModel;
  seed: number;
  /** The control domain's policy for one root complex's window, reporting to `meter`. */
  globalPolicy: (
    devhandle: number,
    windowPages: number,
    guests: readonly number[],
    meter: MeterLog,
  ) => GlobalPolicy;
  /** A guest's local policy for one root complex's window, reporting to `meter`. */
  localPolicy: (
    guest: number,
    devhandle: number,
    windowPages: number,
    cpus: number,
    meter: MeterLog,
  ) => LocalPolicy;
  guestDma?: Partial<GuestDmaOptions>;
  ldc?: {
    queueEntries?: number;
    lossRate?: number;
    /** Decides each packet's fate on guest `channel` (see LdcOptions.fate). */
    fate?: (channel: number, pkt: Uint8Array, from: number) => 0 | 1 | 2 | 3;
  };
  bus?: EventBus;
  sim?: Simulator;
}

export interface GuestOs {
  readonly id: number;
  readonly name: string;
  readonly cpu: DomainCpu;
  readonly memory: GuestMemory;
  readonly channel: LdcChannel;
  readonly link: BrokerClient;
  /** The DMA API for each root complex the guest has a device on. */
  readonly dma: Map<number, GuestDmaApi>;
}

/**
 * A booted machine: the hypervisor, the control domain with its DVMA broker, and each guest with
 * its memory allocator, LDC channel to the broker and DMA API. Every domain reserves the same
 * global window at boot (the MD's virtual-dma); the broker owns its allocation.
 */
export class Platform {
  readonly sim: Simulator;
  readonly rng: RngStreams;
  readonly hv: Hypervisor;
  readonly broker: DvmaBroker;
  readonly controlCpu: DomainCpu;
  readonly guests: GuestOs[] = [];
  readonly cpus: DomainCpu[] = [];
  private readonly links = new Map<number, DuplexLink>();
  private controlOs: { memory: GuestMemory; dma: Map<number, GuestDmaApi> } | undefined;

  constructor(readonly cfg: PlatformConfig) {
    this.sim = cfg.sim ?? new Simulator();
    this.rng = new RngStreams(cfg.seed);
    const { md, cost, bus } = cfg;
    this.hv = new Hypervisor(md, cost, bus);
    for (const d of this.hv.domains) this.cpus.push(new DomainCpu(this.sim, d.strands));
    const control = this.hv.control;
    this.controlCpu = this.cpus[control.id]!;
    this.broker = new DvmaBroker({
      sim: this.sim,
      hv: this.hv,
      cpu: this.controlCpu,
      cost,
      bus,
      policy: cfg.globalPolicy,
    });
    for (const d of this.hv.domains) {
      if (d.role !== "guest") continue;
      const channel = new LdcChannel(
        this.sim,
        d.id,
        control.id,
        d.id,
        {
          queueEntries: cfg.ldc?.queueEntries ?? 128,
          latencyNs: cost.ldcLatencyNs,
          lossRate: cfg.ldc?.lossRate ?? 0,
          fate: cfg.ldc?.fate && ((pkt, from) => cfg.ldc!.fate!(d.id, pkt, from)),
          // "Late" means after the sender has given up waiting.
          lateNs: cost.ldcTimeoutNs + cost.ldcLatencyNs,
          label: labelPacket,
          hcalls: this.hv.hcalls,
        },
        this.rng.stream(`ldc/${d.name}`),
        bus,
      );
      this.hv.addChannel(channel);
      this.broker.attach(d.id, channel);
      const memory = new GuestMemory(d.mem);
      const link = new BrokerClient(this.sim, d.id, channel, this.cpus[d.id]!, cost, () => d.alive);
      const dma = this.dmaApis(d.id, link, memory);
      this.guests.push({
        id: d.id,
        name: d.name,
        cpu: this.cpus[d.id]!,
        memory,
        channel,
        link,
        dma,
      });
    }
  }

  /** The DMA port of device `id`, sharing its root complex's link with the other devices there. */
  devicePort(id: number): DevicePort {
    const dh = this.hv.devices[id]!.iommu.devhandle;
    let link = this.links.get(dh);
    if (link === undefined) this.links.set(dh, (link = duplexLink(this.sim)));
    return new DevicePort(this.sim, this.hv, id, this.cfg.cost, link, this.cfg.bus);
  }

  /** The control domain's memory and DMA APIs (its own drivers: the service-domain path). */
  get control(): { memory: GuestMemory; dma: Map<number, GuestDmaApi> } {
    if (this.controlOs === undefined) {
      const d = this.hv.control;
      const memory = new GuestMemory(d.mem);
      const windowBase = (dh: number) => this.hv.iommus.get(dh)!.windowBase;
      const link = new LocalBrokerLink(this.broker, windowBase, this.controlCpu, this.cfg.cost);
      this.controlOs = { memory, dma: this.dmaApis(d.id, link, memory) };
    }
    return this.controlOs;
  }

  /** Every DMA API booted so far: the guests', and the control domain's once its drivers use one. */
  get dmaApisInUse(): GuestDmaApi[] {
    const out = this.guests.flatMap((g) => [...g.dma.values()]);
    if (this.controlOs !== undefined) out.push(...this.controlOs.dma.values());
    return out;
  }

  /** One DMA API per root complex on which `domain` has a device. */
  private dmaApis(domain: number, link: BrokerLink, memory: GuestMemory): Map<number, GuestDmaApi> {
    const { cost, bus } = this.cfg;
    const dma = new Map<number, GuestDmaApi>();
    const handles = new Set(
      this.hv.devices.filter((x) => x.domain === domain).map((x) => x.iommu.devhandle),
    );
    for (const devhandle of handles) {
      const windowPages = this.hv.iommus.get(devhandle)!.windowPages;
      const strands = this.hv.domains[domain]!.strands;
      const meter = new MeterLog();
      const policy = this.cfg.localPolicy(domain, devhandle, windowPages, strands, meter);
      const name = `${this.hv.domains[domain]!.name}/local@0x${devhandle.toString(16)}`;
      const env = {
        sim: this.sim,
        hv: this.hv,
        domain,
        devhandle,
        cpu: this.cpus[domain]!,
        cost,
        link,
        memory,
        policy,
        replay: new PolicyReplay(this.sim, meter, cost, name),
        bus,
      };
      dma.set(devhandle, new GuestDmaApi(env, this.cfg.guestDma));
    }
    return dma;
  }

  guest(name: string): GuestOs {
    const g = this.guests.find((x) => x.name === name);
    if (!g)
      throw new RangeError(
        `no guest named "${name}" (guests: ${this.guests.map((x) => x.name).join(", ")})`,
      );
    return g;
  }
}
