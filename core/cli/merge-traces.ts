import type { ChromeTrace, TraceEvent, TraceRecorder } from "../events/trace.ts";

/** Process and thread ids of run k are shifted by k times these, so runs never share a track. */
const PID_STRIDE = 1000;
const TID_STRIDE = 1_000_000;

/**
 * One Chrome trace holding every run (each matrix point and path): each run's processes are
 * named "<label> / <domain>" so Perfetto shows the runs side by side.
 */
export function mergeTraces(traces: readonly TraceRecorder[], labels: readonly string[]): string {
  const all: TraceEvent[] = [];
  const other: ChromeTrace["otherData"] = { runs: traces.length };
  traces.forEach((t, k) => {
    const j = t.toJSON();
    for (const e of j.traceEvents) {
      const moved: TraceEvent = { ...e, pid: e.pid + k * PID_STRIDE, tid: e.tid + k * TID_STRIDE };
      if (e.ph === "M" && e.name === "process_name" && traces.length > 1) {
        moved.args = { name: `${labels[k]} / ${String(e.args?.name ?? "")}` };
      }
      all.push(moved);
    }
    for (const [key, v] of Object.entries(j.otherData)) other[`run${k}.${key}`] = v;
  });
  const lines = all.map((e) => JSON.stringify(e));
  return `{"displayTimeUnit":"ns","otherData":${JSON.stringify(other)},"traceEvents":[\n${lines.join(",\n")}\n]}\n`;
}
