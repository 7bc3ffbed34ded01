/** A one-line progress bar on a TTY: runs done, simulated time per run, events/s. */
export class Progress {
  private readonly started = performance.now(); // host clock: display only
  private events = 0;

  constructor(
    private readonly out: { write(s: string): unknown },
    private readonly runNs: number,
  ) {}

  update(done: number, total: number, events: number): void {
    this.events += events;
    const secs = (performance.now() - this.started) / 1000; // host clock: display only
    const width = 24;
    const filled = Math.round((done / total) * width);
    const rate = secs > 0 ? this.events / secs : 0;
    this.out.write(
      `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} runs, ${(this.runNs / 1e6).toFixed(1)} ms simulated each, ${(rate / 1e6).toFixed(2)}M events/s`,
    );
  }

  done(): void {
    this.out.write("\n");
  }
}
