/**
 * Records bus events as Chrome Trace Event JSON, the legacy format ui.perfetto.dev opens.
 *
 * Layout: pid 0 is the hypervisor (LDC channels, IOTLB flushes, plugin errors); domain d is
 * pid d + 1 (named from `domainNames`). Each device, I/O path, IOMMU and channel is a thread,
 * tids assigned in first-seen order so the output is deterministic.
 * - `dma.done`, `io.done`: async `b`/`e` pairs (transfers overlap; Perfetto forbids
 *   overlapping `X` on one track). Both halves are written together, so no span is left open.
 * - `hcall`: an `X` slice on the domain's "hcalls" thread when it does not overlap the
 *   previous one there, otherwise an instant.
 * - `metric`: a `C` counter; everything else: a thread-scoped instant with the fields as args.
 * `ts`/`dur` are microseconds (fractional); `displayTimeUnit` is "ns".
 */

import type { EventBus } from "./bus.ts";
import { EVENT_TYPES, EventSchemas, type SimEvent } from "./schemas.ts";

export interface TraceRecorderOptions {
  /** Display name per domain; index = domain id (pid = id + 1). */
  domainNames: readonly string[];
  /** Cap on recorded (non-metadata) trace events; later ones are counted as dropped. Default 2,000,000. */
  maxEvents?: number;
  /** Extra figures stored in `otherData` (scenario name, seed, ...). */
  otherData?: Record<string, string | number | boolean>;
}

/** One Chrome trace event (only the fields this recorder writes). */
export interface TraceEvent {
  name: string;
  cat?: string;
  ph: "M" | "X" | "b" | "e" | "i" | "C";
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  id?: number;
  s?: "t";
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: "ns";
  otherData: Record<string, string | number | boolean>;
}

export const DEFAULT_MAX_TRACE_EVENTS = 2_000_000;

/** Argument keys per known kind, in schema order: args come out in a stable order. */
const ARG_KEYS = new Map<string, readonly string[]>(
  EVENT_TYPES.map((k) => [k, Object.keys(EventSchemas[k].properties)]),
);

const us = (ns: number) => ns / 1000;

export class TraceRecorder {
  private readonly meta: TraceEvent[] = [];
  private readonly events: TraceEvent[] = [];
  private readonly tids = new Map<string, number>();
  private readonly pids = new Set<number>();
  /** End time (ns) of the last X slice per tid. */
  private readonly lastEnd = new Map<number, number>();
  private readonly maxEvents: number;
  private readonly domainNames: readonly string[];
  private readonly extra: Record<string, string | number | boolean>;
  private nextTid = 1;
  private nextAsyncId = 1;
  private dropped = 0;
  private unsubscribe: (() => void) | undefined;

  constructor(bus: EventBus, options: TraceRecorderOptions) {
    this.domainNames = options.domainNames;
    this.maxEvents = options.maxEvents ?? DEFAULT_MAX_TRACE_EVENTS;
    this.extra = { ...options.otherData };
    this.process(0, "hypervisor");
    for (let d = 0; d < this.domainNames.length; d++) this.process(d + 1, this.domainNames[d]);
    this.unsubscribe = bus.on("*", (e) => this.record(e));
  }

  /** Trace events recorded so far (metadata excluded). */
  get recorded(): number {
    return this.events.length;
  }

  /** Trace events not recorded because `maxEvents` was reached. */
  get droppedEvents(): number {
    return this.dropped;
  }

  /** Stops recording (unsubscribes from the bus); what was recorded stays. */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** Adds one bus event to the trace (called by the "*" subscription). */
  record(e: SimEvent): void {
    const f = e as unknown as Record<string, unknown>;
    const domain = typeof f.domain === "number" ? f.domain : -1;
    const dpid = domain + 1;
    switch (e.type) {
      case "dma.done": {
        const name = `${e.device} ${e.write ? "write" : "read"}`;
        this.asyncPair("dma", name, dpid, `dma ${e.device}`, e.t - e.durNs, e.t, e);
        return;
      }
      case "io.done":
        this.asyncPair("io", `${e.path} ${e.op}`, dpid, `io ${e.path}`, e.t - e.latencyNs, e.t, e);
        return;
      case "hcall": {
        if (!this.room(1)) return;
        const tid = this.thread(dpid, "hcalls");
        const start = e.t - e.durNs;
        const last = this.lastEnd.get(tid);
        if (last === undefined || start >= last) {
          this.lastEnd.set(tid, e.t);
          this.events.push({
            name: e.fn,
            cat: "hcall",
            ph: "X",
            ts: us(start),
            dur: us(e.durNs),
            pid: dpid,
            tid,
            args: args(e),
          });
        } else {
          this.instant(e.fn, "hcall", dpid, tid, e);
        }
        return;
      }
      case "metric":
        if (!this.room(1)) return;
        this.process(dpid);
        this.events.push({
          name: e.name,
          cat: "metric",
          ph: "C",
          ts: us(e.t),
          pid: dpid,
          tid: 0,
          args: { value: e.value },
        });
        return;
      case "ldc.send":
      case "ldc.deliver":
      case "ldc.drop":
      case "ldc.reset":
        this.instantOn(e.type, "ldc", 0, `ldc ${e.channel}`, e);
        return;
      case "iotlb.flush":
        this.instantOn(e.type, "iommu", 0, `iotlb ${e.devhandle}`, e);
        return;
      case "iommu.map":
      case "iommu.demap":
        this.instantOn(e.type, "iommu", dpid, `iommu ${e.devhandle}`, e);
        return;
      case "dvma.grant":
      case "dvma.nack":
      case "dvma.release":
        this.instantOn(e.type, "dvma", dpid, "dvma", e);
        return;
      case "dma.fault":
        this.instantOn(e.type, "dma", dpid, `dma ${e.device}`, e);
        return;
      case "domain.state":
        this.process(dpid, e.name);
        this.instantOn(e.state, "domain", dpid, "state", e);
        return;
      case "attack":
        this.instantOn(e.attack, "attack", dpid, "attacks", e);
        return;
      case "plugin.error":
        this.instantOn(e.type, "plugin", 0, "plugins", e);
        return;
      default: {
        // A kind added by an extension: an instant on a thread named after it.
        const type = String((e as { type: unknown }).type);
        this.instantOn(type, "other", domain >= 0 ? dpid : 0, type, e);
      }
    }
  }

  /** `{ traceEvents, displayTimeUnit: "ns", otherData }`; metadata events come first. */
  toJSON(): ChromeTrace {
    return {
      traceEvents: [...this.meta, ...this.events],
      displayTimeUnit: "ns",
      otherData: this.otherData(),
    };
  }

  /** The trace as JSON text, one event per line; identical events in give identical bytes out. */
  serialize(): string {
    return [...this.chunks(Number.POSITIVE_INFINITY)].join("");
  }

  /** Writes `serialize()`'s bytes to `path` in chunks (no giant string). Returns the byte count. */
  async write(path: string): Promise<number> {
    const sink = Bun.file(path).writer();
    let bytes = 0;
    for (const chunk of this.chunks(1 << 20)) {
      const n = sink.write(chunk);
      bytes += typeof n === "number" ? n : await n;
    }
    await sink.end();
    return bytes;
  }

  private *chunks(size: number): Generator<string> {
    let buf = '{"traceEvents":[\n';
    let first = true;
    for (const list of [this.meta, this.events]) {
      for (const ev of list) {
        buf += (first ? "" : ",\n") + JSON.stringify(ev);
        first = false;
        if (buf.length >= size) {
          yield buf;
          buf = "";
        }
      }
    }
    buf += `\n],"displayTimeUnit":"ns","otherData":${JSON.stringify(this.otherData())}}\n`;
    yield buf;
  }

  private otherData(): Record<string, string | number | boolean> {
    return {
      ...this.extra,
      generator: "sun4v-dvma",
      recordedEvents: this.events.length,
      droppedEvents: this.dropped,
      maxEvents: this.maxEvents,
    };
  }

  private room(n: number): boolean {
    if (this.events.length + n <= this.maxEvents) return true;
    this.dropped += n;
    return false;
  }

  private process(pid: number, name?: string): void {
    if (this.pids.has(pid)) return;
    this.pids.add(pid);
    const label = name ?? `domain ${pid - 1}`;
    this.meta.push({ name: "process_name", ph: "M", pid, tid: 0, args: { name: label } });
    this.meta.push({ name: "process_sort_index", ph: "M", pid, tid: 0, args: { sort_index: pid } });
  }

  private thread(pid: number, name: string): number {
    const key = `${pid}\u0000${name}`;
    let tid = this.tids.get(key);
    if (tid === undefined) {
      this.process(pid);
      tid = this.nextTid++;
      this.tids.set(key, tid);
      this.meta.push({ name: "thread_name", ph: "M", pid, tid, args: { name } });
    }
    return tid;
  }

  private instantOn(name: string, cat: string, pid: number, track: string, e: SimEvent): void {
    if (!this.room(1)) return;
    this.instant(name, cat, pid, this.thread(pid, track), e);
  }

  private instant(name: string, cat: string, pid: number, tid: number, e: SimEvent): void {
    this.events.push({ name, cat, ph: "i", ts: us(e.t), pid, tid, s: "t", args: args(e) });
  }

  private asyncPair(
    cat: string,
    name: string,
    pid: number,
    track: string,
    startNs: number,
    endNs: number,
    e: SimEvent,
  ): void {
    if (!this.room(2)) return;
    const tid = this.thread(pid, track);
    const id = this.nextAsyncId++;
    this.events.push({ name, cat, ph: "b", ts: us(startNs), pid, tid, id, args: args(e) });
    this.events.push({ name, cat, ph: "e", ts: us(endNs), pid, tid, id });
  }
}

/** The event's fields (no envelope) in schema order; unknown kinds get sorted keys. */
function args(e: SimEvent): Record<string, unknown> {
  const src = e as unknown as Record<string, unknown>;
  const keys =
    ARG_KEYS.get(e.type) ??
    Object.keys(src)
      .filter((k) => k !== "type" && k !== "t")
      .sort();
  const out: Record<string, unknown> = {};
  for (const k of keys) if (src[k] !== undefined) out[k] = src[k];
  return out;
}
