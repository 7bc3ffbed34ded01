import type { GuestIo, IoRequest, IoResult } from "../../model/domains/io.ts";
import type { EventBus } from "../../model/events/bus.ts";
import type { Proc } from "../../model/sim/kernel.ts";
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
    return {
      guest: io.guest,
      device: io.device,
      setup: () => io.setup(),
      submit: (req, cpu) => new Counted(this, k, io.guest, req, io.submit(req, cpu)) as never,
    };
  }

  /** Counts one I/O's result. */
  count(k: KindTally, guest: number, req: IoRequest, r: IoResult): void {
    if (r.ok) {
      this.ios++;
      this.bytes += r.bytes;
      this.lat.record(r.latencyNs);
      k.ios++;
      k.bytes += r.bytes;
      k.lat.record(r.latencyNs);
    } else this.failed.record(r.error || "unknown");
    if (this.bus.wants("io.done")) {
      this.bus.emit("io.done", {
        domain: guest,
        path: this.pathName,
        op: req.op,
        bytes: r.ok ? r.bytes : 0,
        latencyNs: r.latencyNs,
      });
    }
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

/**
 * One I/O whose result the meter counts when it returns: an iterator `yield*` drives directly
 * (no generator of its own, so a frame of it costs one call rather than one more resume).
 */
class Counted {
  constructor(
    private readonly meter: IoMeter,
    private readonly k: KindTally,
    private readonly guest: number,
    private readonly req: IoRequest,
    private readonly io: Proc<IoResult>,
  ) {}

  next(input?: unknown): IteratorResult<unknown, IoResult> {
    const r = this.io.next(input);
    if (r.done === true) this.meter.count(this.k, this.guest, this.req, r.value);
    return r;
  }

  throw(thrown: unknown): IteratorResult<unknown, IoResult> {
    const r = this.io.throw(thrown);
    if (r.done === true) this.meter.count(this.k, this.guest, this.req, r.value);
    return r;
  }

  return(value: IoResult): IteratorResult<unknown, IoResult> {
    return this.io.return(value);
  }

  [Symbol.iterator](): this {
    return this;
  }
}
