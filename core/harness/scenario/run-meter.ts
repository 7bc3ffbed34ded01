import type { GuestIo } from "../../model/domains/io.ts";
import type { EventBus } from "../../model/events/bus.ts";
import { Histogram } from "../../model/sim/stats.ts";
import { IoErrorTally } from "./failures.ts";

/** One device kind's completed I/O. */
export interface KindTally {
  ios: number;
  bytes: number;
  lat: Histogram;
}

/**
 * Counts every I/O a workload completes, in total and per device kind (so a NIC's and a disk's
 * figures are not only seen mixed), the failures by reason, attacks, and the figures workloads
 * observe themselves (`env.observe`).
 */
export class IoMeter {
  ios = 0;
  bytes = 0;
  attacks = 0;
  blocked = 0;
  readonly lat = new Histogram();
  readonly failed = new IoErrorTally();
  readonly byKind = new Map<string, KindTally>();
  readonly observed = new Map<string, Histogram>();
  /** Figures a workload reports whole (`env.figure`), the last value of each. */
  readonly figures = new Map<string, number>();
  /** DVMA pages in use at moments workloads chose (`env.moment`), the last under each name. */
  readonly moments = new Map<string, { note: string; windowPages: number; ranges: number[] }>();

  constructor(
    private readonly bus: EventBus,
    private readonly pathName: string,
  ) {
    bus.on("attack", (e) => {
      this.attacks++;
      if (e.blocked) this.blocked++;
    });
  }

  /** `io` with every completion counted (and announced as `io.done` when someone listens). */
  wrap(io: GuestIo): GuestIo {
    let kind = this.byKind.get(io.device.kind);
    if (kind === undefined)
      this.byKind.set(io.device.kind, (kind = { ios: 0, bytes: 0, lat: new Histogram() }));
    const k = kind;
    const meter = this;
    const bus = this.bus;
    return {
      guest: io.guest,
      device: io.device,
      setup: () => io.setup(),
      *submit(req, cpu) {
        const r = yield* io.submit(req, cpu);
        if (r.ok) {
          meter.ios++;
          meter.bytes += r.bytes;
          meter.lat.record(r.latencyNs);
          k.ios++;
          k.bytes += r.bytes;
          k.lat.record(r.latencyNs);
        } else meter.failed.record(r.error || "unknown");
        if (bus.wants("io.done")) {
          bus.emit("io.done", {
            domain: io.guest,
            path: meter.pathName,
            op: req.op,
            bytes: r.ok ? r.bytes : 0,
            latencyNs: r.latencyNs,
          });
        }
        return r;
      },
    };
  }

  /** Keeps a figure a workload reports whole (`env.figure(name, value)`). */
  figure(name: string, value: number): void {
    this.figures.set(name, value);
  }

  /** Records a figure a workload observed (`env.observe(name, value)`). */
  observe(name: string, value: number): void {
    let h = this.observed.get(name);
    if (h === undefined) this.observed.set(name, (h = new Histogram()));
    h.record(value);
  }
}
