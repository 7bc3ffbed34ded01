import type { EventBus } from "../../model/events/bus.ts";
import { type ChromeTrace, type TraceEvent, TraceRecorder } from "../../model/events/trace.ts";
import { type AnyPlugin, definePlugin } from "../plugin/define.ts";
import type { RunInfo } from "./run-info.ts";

/** Process and thread ids of run k are shifted by k times these, so runs never share a track. */
const PID_STRIDE = 1000;
const TID_STRIDE = 1_000_000;

/**
 * Records every run of a scenario (each matrix point and path) into one Chrome trace; each run's
 * processes are named "<path> <params> / <domain>" so Perfetto shows them side by side. Its
 * `plugin` is the observer to register in each run (`observers: [trace.plugin]`).
 */
export class TraceCollector {
  private readonly runs: { rec: TraceRecorder; label: string }[] = [];

  /** The observer that records the run it is set up in. */
  readonly plugin: AnyPlugin = definePlugin({
    name: "trace",
    kind: "observer",
    version: "1.0.0",
    description: "records every event of the run into a Chrome trace",
    setup: (ctx) => {
      if (ctx.run !== undefined) this.record(ctx.bus, ctx.run.info);
    },
  });

  private record(bus: EventBus, info: RunInfo): void {
    const label = [
      info.path,
      ...Object.entries(info.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`),
    ].join(" ");
    this.runs.push({ rec: new TraceRecorder(bus, { domainNames: info.domainNames }), label });
  }

  /** Trace events recorded per run. */
  get recorded(): number[] {
    return this.runs.map((r) => r.rec.recorded);
  }

  /** The whole trace as JSON text, one event per line; identical runs give identical bytes. */
  serialize(): string {
    const all: TraceEvent[] = [];
    const other: ChromeTrace["otherData"] = { runs: this.runs.length };
    this.runs.forEach(({ rec, label }, k) => {
      const j = rec.toJSON();
      for (const e of j.traceEvents) {
        const moved: TraceEvent = {
          ...e,
          pid: e.pid + k * PID_STRIDE,
          tid: e.tid + k * TID_STRIDE,
        };
        if (e.ph === "M" && e.name === "process_name" && this.runs.length > 1) {
          moved.args = { name: `${label} / ${String(e.args?.name ?? "")}` };
        }
        all.push(moved);
      }
      for (const [key, v] of Object.entries(j.otherData)) other[`run${k}.${key}`] = v;
    });
    const lines = all.map((e) => JSON.stringify(e));
    return `{"displayTimeUnit":"ns","otherData":${JSON.stringify(other)},"traceEvents":[\n${lines.join(",\n")}\n]}\n`;
  }
}
