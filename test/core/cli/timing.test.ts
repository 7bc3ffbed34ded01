import { describe, expect, test } from "bun:test";
import { cli } from "../../helpers/cli.ts";

const RUN_LINE =
  /: wall \d+\.\d{3} s, cpu \d+\.\d{3} s( \(thread \d\))?, simulated 500\.0 us, [\d,]+ events, [\d.e+-]+ simulated s per wall s, [\d,]+ I\/Os per wall s$/;
const TOTAL_LINE =
  /^timing all 3 runs on (\d) threads?: wall (\d+\.\d{3}) s \(runs' wall summed (\d+\.\d{3}) s\), simulated 1\.500 ms, ([\d,]+) events, [\d.e+-]+ simulated s per wall s, [\d,]+ I\/Os per wall s$/;
// A worker thread's line shows its start-up and probe (it prints only when a worker started:
// the sweep decides that from its CPU estimate, so a loaded machine starts one more often).
const CPU_LINE =
  /^timing cpu: process (\d+\.\d{3}) s, [\d.e+-]+ runs per CPU-s; thread 0 \d runs (\d+\.\d{3}) s \(all (\d+\.\d{3}) s\);( thread \d \d+ runs \d+\.\d{3} s \(all \d+\.\d{3} s: start-up \d+\.\d{3} s, probe \d+\.\d{3} s\);)* other threads \d+\.\d{3} s$/;
const count = (line: string, re: RegExp) => Number(line.match(re)![1]!.replaceAll(",", ""));

describe("--timing", () => {
  const plain = cli("default", "--duration", "500us", "--json", "--workers", "1");

  for (const workers of ["1", "2"])
    test(`--workers ${workers}: one stderr line per run with wall and CPU time, simulated time, events and per-wall-second rates, then the sweep's and where its CPU time went; the JSON is unchanged`, async () => {
      const timed = await cli(
        "default",
        ...["--duration", "500us", "--json", "--timing", "--workers", workers],
      );
      expect(timed.code).toBe(0);
      expect(timed.out).toBe((await plain).out); // wall time never enters the report
      const lines = timed.err.trimEnd().split("\n");
      expect(lines).toHaveLength(5);
      const cpu = lines.pop()!;
      const total = lines.pop()!;
      // Runs print as they finish: with a worker, not necessarily in plan order.
      expect(lines.map((l) => l.split(":")[0]).sort()).toEqual([
        "timing 1/3 direct",
        "timing 2/3 service-domain",
        "timing 3/3 bare-metal",
      ]);
      for (const l of lines) expect(l).toMatch(RUN_LINE);
      const ios = JSON.parse(timed.out).points[0].paths.direct.ios;
      expect(ios).toBeGreaterThan(0);
      const direct = lines.find((l) => l.startsWith("timing 1/3 direct"))!;
      expect(count(direct, /([\d,]+) events/)).toBeGreaterThan(ios);
      // The sweep's line sums the runs' events and simulated time, on the threads it used.
      expect(total).toMatch(TOTAL_LINE);
      const [, threads, wall, summed, events] = total.match(TOTAL_LINE)!;
      // A sweep this short starts no new worker (WORKER_WORTH_MS); a kept one may join.
      expect(Number(threads)).toBeGreaterThanOrEqual(1);
      expect(Number(threads)).toBeLessThanOrEqual(Number(workers));
      const eventsOf = lines.map((l) => count(l, /([\d,]+) events/));
      expect(Number(events!.replaceAll(",", ""))).toBe(eventsOf.reduce((a, b) => a + b, 0));
      const walls = lines.map((l) => Number(l.match(/wall (\d+\.\d{3}) s/)![1]));
      expect(Math.abs(Number(summed) - walls.reduce((a, b) => a + b, 0))).toBeLessThan(0.005);
      // Serially the sweep takes at least its runs; a run cannot take longer than the sweep.
      if (workers === "1") expect(Number(wall)).toBeGreaterThanOrEqual(Number(summed) - 0.005);
      for (const w of walls) expect(w).toBeLessThanOrEqual(Number(wall) + 0.001);
      // The process's CPU time holds every thread's: this thread's, and its runs'.
      expect(cpu).toMatch(CPU_LINE);
      const [, processS, runsS, mainS] = cpu.match(CPU_LINE)!.map(Number);
      expect(mainS!).toBeLessThanOrEqual(processS!);
      expect(runsS!).toBeLessThanOrEqual(mainS! + 0.001);
    });

  test("is refused with --queue (the runs would go elsewhere)", async () => {
    const r = await cli("default", "--timing", "--queue", "redis://127.0.0.1:6379");
    expect(r.code).toBe(2);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.err).toContain("--timing");
  });
});
