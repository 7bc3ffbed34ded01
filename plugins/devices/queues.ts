import {
  type Completion,
  type DeviceEnv,
  type DomainCpu,
  type Proc,
  type Signal,
  type Simulator,
  Type,
} from "../../core/index.ts";

/**
 * What the NIC and the NVMe drive share: queue pairs bound to vCPUs, ring entries moved in
 * batches, coalesced completion interrupts charged on the queue's vCPU, and buffers for checking
 * the data a device read. Not a plugin.
 */

/** Interrupt options both devices take. */
export const interruptOptions = {
  interruptNs: Type.Integer({
    minimum: 0,
    default: 2000,
    description: "MSI-X interrupt delivery to the driver. Assumed",
  }),
  coalesceNs: Type.Integer({
    minimum: 0,
    default: 0,
    description:
      "interrupt coalescing: hold a queue's interrupt this long after its first completion (0 = raise at once). Assumed",
  }),
  coalesceFrames: Type.Integer({
    minimum: 1,
    maximum: 65536,
    default: 32,
    description:
      "with coalesceNs, raise the interrupt early once this many completions wait. Assumed",
  }),
};

export interface InterruptConfig {
  interruptNs: number;
  coalesceNs: number;
  coalesceFrames: number;
}

/** A port's DMA, as the batcher needs it. */
type Dma = (dvma: number, bytes: number, write: boolean) => Proc<number>;
/** A port that can book a DMA without waiting (a DevicePort, when `issues`). */
export interface BookedDma {
  readonly issues: boolean;
  issue(dvma: number, bytes: number, write: boolean, tag: number): number;
  begin(dvma: number, bytes: number, write: boolean, tag: number): number;
  end(fault: number, dvma: number, bytes: number, write: boolean, start: number): void;
  readonly doneAt: number;
}

/** What RingBatcher.book returns when the ring is busy: the caller waits with pass() instead. */
export const NOT_BOOKED = -2;

/**
 * A ring the device reads (descriptor prefetch) or writes (completion write-back) with one DMA in
 * flight: entries whose turn comes while that DMA runs go together in the next, up to `max`
 * entries (one DMA per contiguous run; a run that wraps round the ring takes two). Under load the
 * batches grow; an idle queue moves one entry at once.
 */
export class RingBatcher {
  /** Batches not yet carried, oldest first: the requests of one share its signal. */
  private sigs: Signal<number>[] = [];
  private counts: number[] = [];
  private head = 0;
  private running = false;
  private pos = 0;
  /** End of the DMA book() made last: the ring is busy until then. */
  private busyUntil = 0;
  /** The DMA start() began: its fault code, entry address and start time, for finish(). */
  private begun = { fault: 0, dvma: 0, at: 0 };
  /** After start(): ns the caller waits before finish(), or -1 for no wait. */
  waitNs = -1;

  constructor(
    private readonly sim: Simulator,
    private readonly dma: Dma,
    /** DVMA of the ring's first entry (set once the driver mapped it). */
    private base: number,
    private readonly entries: number,
    private readonly entryBytes: number,
    private readonly write: boolean,
    private readonly max: number,
    private readonly booked?: BookedDma,
  ) {}

  setBase(dvma: number): void {
    this.base = dvma;
  }

  /** Waits until this request's entry has been moved; returns 0 or the DMA's fault code. */
  *pass(): Proc<number> {
    const last = this.sigs.length - 1;
    if (last >= this.head && this.counts[last]! < this.max) {
      this.counts[last]!++;
      return yield this.sigs[last]!;
    }
    if (!this.running && this.sim.now >= this.busyUntil) {
      // An idle ring moves this entry at once, in this request's own process: no server process
      // and no signal. Requests that come meanwhile gather in the next batch.
      this.running = true;
      // carry(1) inline (one entry never wraps): one frame less on the resume.
      const f = yield* this.dma(
        this.base + this.pos * this.entryBytes,
        this.entryBytes,
        this.write,
      );
      this.pos = this.pos + 1 === this.entries ? 0 : this.pos + 1;
      if (this.head < this.sigs.length) this.sim.spawn(this.serve(), "ring-dma");
      else this.running = false;
      return f;
    }
    const s = this.sim.signal<number>();
    this.sigs.push(s);
    this.counts.push(1);
    // Behind a booked DMA nobody waits for: the batch's DMA starts when that one is through.
    if (!this.running) {
      this.running = true;
      this.sim.spawn(this.serve(), "ring-dma", this.busyUntil - this.sim.now);
    }
    return yield s;
  }

  /**
   * pass() without a generator, for the request that finds the ring idle on a port that books
   * transfers: starts its entry's DMA now (the ring is running, as in pass()) and returns 0 or
   * the fault code; the caller waits `waitNs` (if >= 0), then calls finish(). NOT_BOOKED when
   * the ring is busy or cannot book: then wait with pass().
   */
  start(): number {
    const b = this.booked;
    if (b === undefined || !b.issues || this.running || this.sim.now < this.busyUntil)
      return NOT_BOOKED;
    this.running = true;
    const g = this.begun;
    g.dvma = this.base + this.pos * this.entryBytes;
    g.at = this.sim.now;
    g.fault = b.begin(g.dvma, this.entryBytes, this.write, 0);
    this.waitNs = g.fault !== 0 || b.doneAt > g.at ? b.doneAt - g.at : -1;
    return g.fault;
  }

  /** After start() and its wait: the DMA is through; the batches that gathered meanwhile go next. */
  finish(): void {
    const g = this.begun;
    this.booked!.end(g.fault, g.dvma, this.entryBytes, this.write, g.at);
    this.pos = this.pos + 1 === this.entries ? 0 : this.pos + 1;
    if (this.head < this.sigs.length) this.sim.spawn(this.serve(), "ring-dma");
    else this.running = false;
  }

  /**
   * On an idle ring of a port that books transfers: moves this request's entry without waiting
   * (the DMA is booked; the ring is busy until it is through, and entries whose turn comes
   * meanwhile gather behind it). Returns 0 or the fault code, the DMA's end in `doneAt`; or
   * NOT_BOOKED when the ring is busy or cannot book (then wait with pass()).
   */
  book(): number {
    const b = this.booked;
    if (b === undefined || !b.issues || this.running || this.sim.now < this.busyUntil)
      return NOT_BOOKED;
    const f = b.issue(this.base + this.pos * this.entryBytes, this.entryBytes, this.write, 0);
    this.pos = this.pos + 1 === this.entries ? 0 : this.pos + 1;
    this.busyUntil = b.doneAt;
    return f;
  }

  /** When the DMA book() made last is through. */
  get doneAt(): number {
    return this.busyUntil;
  }

  /** Carries the batches that gathered behind a DMA, oldest first, one DMA after the other. */
  private *serve(): Proc<void> {
    while (this.head < this.sigs.length) {
      // The batch is closed once its DMA starts: later requests gather in the next.
      const s = this.sigs[this.head]!;
      const n = this.counts[this.head]!;
      this.head++;
      if (this.head === this.sigs.length) {
        this.sigs.length = 0;
        this.counts.length = 0;
        this.head = 0;
      }
      s.trigger(yield* this.carry(n));
    }
    this.running = false;
  }

  /** Moves the next `n` entries: one DMA per contiguous run. Returns 0 or the fault code. */
  private *carry(n: number): Proc<number> {
    let f = 0;
    for (let left = n; left > 0 && f === 0; ) {
      const k = Math.min(left, this.entries - this.pos);
      f = yield* this.dma(this.base + this.pos * this.entryBytes, k * this.entryBytes, this.write);
      this.pos = (this.pos + k) % this.entries;
      left -= k;
    }
    return f;
  }
}

/**
 * A queue's completion interrupt: raised at the first completion (or, coalescing, `coalesceNs`
 * later or once `coalesceFrames` wait), delivered after `interruptNs`, then its handler holds the
 * queue's vCPU for `irqCpuNs` and completes every request done by then. The handler also does
 * the driver's completion work of the request that raised it, holding the vCPU on.
 */
export class QueueInterrupt {
  /** The completions the next handler run will see share this signal. */
  private pending: Signal<void> | null = null;
  private count = 0;
  private running = false;
  private early: Signal<void> | undefined;

  constructor(
    private readonly sim: Simulator,
    private readonly cpu: DomainCpu,
    private readonly vcpu: number,
    private readonly irqCpuNs: number,
    private readonly o: InterruptConfig,
  ) {}

  /**
   * From a request's process once the device finished it: returns when the driver has seen it.
   * The handler does `c` (see Completion) if this request raised the interrupt and was issued
   * from the handler's own vCPU (`cpu`), where its driver would have done that work anyway.
   */
  *complete(cpu: number, c?: Completion): Proc<void> {
    if (cpu !== this.vcpu) c = undefined;
    if (this.running) {
      // A handler is on its way: this completion is seen when it runs.
      this.pending ??= this.sim.signal<void>();
      this.count++;
      if (this.early !== undefined && !this.early.triggered && this.count >= this.o.coalesceFrames)
        this.early.trigger();
      yield this.pending;
      return;
    }
    // The first completion raises the interrupt; its own process carries the handler through
    // (no handler process, no signal), and completions that come meanwhile see it too.
    this.running = true;
    this.count = 1;
    const { coalesceNs, coalesceFrames, interruptNs } = this.o;
    if (coalesceNs > 0 && coalesceFrames > 1) {
      const early = this.sim.signal<void>();
      this.early = early;
      const timer = this.sim.schedule(coalesceNs, () => {
        if (!early.triggered) early.trigger();
      });
      yield early;
      this.sim.cancel(timer);
      this.early = undefined;
    }
    if (interruptNs > 0) yield interruptNs;
    let v = yield* this.cpu.take(this.vcpu);
    const sim = this.sim;
    const t = c === undefined ? sim.now + this.irqCpuNs : c.work(sim.now + this.irqCpuNs);
    if (t > sim.now) yield t - sim.now;
    if (c !== undefined) v = yield* c.finish(v);
    this.cpu.free(v);
    const done = this.pending;
    this.pending = null;
    this.running = false;
    done?.trigger();
  }
}

/**
 * At most `n` operations in flight, granted in the order asked (a tx queue's payload reads). An
 * operation whose end is known when it starts says so (`endsAt`) and its slot frees itself then,
 * with no event unless someone waits for it; one whose end is not known calls `release()`.
 */
export class InFlight {
  /** Known ends of operations in flight, in no order. */
  private readonly ends: number[] = [];
  /** Granted operations whose end is not known yet. */
  private open = 0;
  private readonly waiters: Signal<void>[] = [];
  private head = 0;
  private wakeAt = Number.POSITIVE_INFINITY;
  private wakeToken = -1;
  private readonly granted: Signal<void>;
  private readonly wake = () => {
    this.wakeToken = -1;
    this.wakeAt = Number.POSITIVE_INFINITY;
    this.pump();
  };

  constructor(
    private readonly sim: Simulator,
    private readonly n: number,
  ) {
    this.granted = sim.signal<void>();
    this.granted.trigger();
  }

  /** A signal that fires when the caller may start (already fired when a slot is free now). */
  request(): Signal<void> {
    this.forget();
    if (this.head === this.waiters.length && this.ends.length + this.open < this.n) {
      this.open++;
      return this.granted;
    }
    const s = this.sim.signal<void>();
    this.waiters.push(s);
    this.arm();
    return s;
  }

  /** The operation granted to the caller ends at `t` (>= now). */
  endsAt(t: number): void {
    this.open--;
    this.ends.push(t);
    if (t <= this.sim.now) this.pump();
    else if (this.head < this.waiters.length) this.arm();
  }

  /** The operation granted to the caller ends now. */
  release(): void {
    this.open--;
    this.pump();
  }

  /** Grants the oldest waiters the slots free now; wakes again when the next one frees. */
  private pump(): void {
    this.forget();
    while (this.head < this.waiters.length && this.ends.length + this.open < this.n) {
      const s = this.waiters[this.head]!;
      this.waiters[this.head++] = undefined as unknown as Signal<void>;
      this.open++;
      s.trigger();
    }
    if (this.head === this.waiters.length) {
      this.waiters.length = 0;
      this.head = 0;
    } else this.arm();
  }

  /** Schedules a wake-up at the earliest known end, if that is sooner than the one set. */
  private arm(): void {
    let t = Number.POSITIVE_INFINITY;
    for (const e of this.ends) if (e < t) t = e;
    if (t >= this.wakeAt || t === Number.POSITIVE_INFINITY) return;
    if (this.wakeToken >= 0) this.sim.cancel(this.wakeToken);
    this.wakeAt = t;
    this.wakeToken = this.sim.at(Math.max(t, this.sim.now), this.wake);
  }

  private forget(): void {
    const now = this.sim.now;
    const ends = this.ends;
    for (let i = ends.length - 1; i >= 0; i--)
      if (ends[i]! <= now) {
        ends[i] = ends[ends.length - 1]!;
        ends.pop();
      }
  }
}

/** The queue pairs of a device: queue q serves vCPU q (mod queues) and interrupts vCPU q. */
export class QueuePairs {
  readonly count: number;
  readonly irqs: QueueInterrupt[];

  constructor(env: DeviceEnv, requested: number, o: InterruptConfig) {
    this.count = Math.max(1, Math.min(requested, env.cpu.strands));
    this.irqs = Array.from(
      { length: this.count },
      (_, q) => new QueueInterrupt(env.sim, env.cpu, q, env.cost.irqCpuNs, o),
    );
  }

  /** The queue a request from vCPU `cpu` uses (ANY_VCPU and other negatives: queue 0). */
  of(cpu: number): number {
    return cpu < 0 ? 0 : cpu % this.count;
  }
}

/**
 * Buffers the device reads data into to check it against the driver's tags: one per transfer in
 * flight, reused, so a steady stream allocates none.
 */
export class CheckBuffers {
  private readonly free: Uint32Array[] = [];

  constructor(private readonly pages: number) {}

  take(): Uint32Array {
    return this.free.pop() ?? new Uint32Array(this.pages);
  }

  give(b: Uint32Array): void {
    this.free.push(b);
  }
}

/** True when the first `pages` entries of `out` are the driver's tags `tag + k`. */
export function holdsTags(out: Uint32Array, tag: number, pages: number): boolean {
  for (let k = 0; k < pages; k++) if (out[k] !== (tag + k) >>> 0) return false;
  return true;
}
