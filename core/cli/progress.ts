import type { SweepProgress } from "../harness/scenario/parallel.ts";

/** Least wall time between two redraws (the last one is always drawn). */
const REDRAW_MS = 100;
const WIDTH = 24;

/**
 * A one-line progress bar for a TTY: runs done, simulated time over all runs, events per
 * second of wall time (summed over workers). The caller decides whether stderr is a TTY.
 */
export class Progress {
  private readonly started = performance.now(); // host clock: display only
  private lastDraw = Number.NEGATIVE_INFINITY;
  private drawn = false;

  constructor(private readonly out: { write(s: string): unknown }) {}

  update(p: SweepProgress): void {
    const now = performance.now(); // host clock: display only
    if (p.done < p.total && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    const secs = (now - this.started) / 1000;
    const filled = Math.round((p.totalNs > 0 ? p.simulatedNs / p.totalNs : 1) * WIDTH);
    const rate = secs > 0 ? p.events / secs : 0;
    this.out.write(
      `\r[${"#".repeat(filled)}${".".repeat(WIDTH - filled)}] ${p.done}/${p.total} runs, ${ms(p.simulatedNs)}/${ms(p.totalNs)} ms simulated, ${(rate / 1e6).toFixed(2)}M events/s\x1b[K`,
    );
    this.drawn = true;
  }

  /** Ends the line (if anything was drawn). */
  done(): void {
    if (this.drawn) this.out.write("\n");
  }
}

const ms = (ns: number) => (ns / 1e6).toFixed(1);

/** Progress of serial runs, which finish in plan order: feed it each run's event count. */
export function serialTally(
  runNs: readonly number[],
): (done: number, events: number) => SweepProgress {
  const totalNs = runNs.reduce((a, b) => a + b, 0);
  let simulatedNs = 0;
  let allEvents = 0;
  return (done, events) => {
    simulatedNs += runNs[done - 1] ?? 0;
    allEvents += events;
    return { done, total: runNs.length, simulatedNs, totalNs, events: allEvents };
  };
}
