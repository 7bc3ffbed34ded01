import { describe, expect, test } from "bun:test";
import { cli } from "../../helpers/cli.ts";

describe("--timing", () => {
  test("one stderr line per run with wall, simulated time, events and per-wall-second rates; the JSON is unchanged", async () => {
    const plain = await cli("default", "--duration", "500us", "--json", "--workers", "1");
    const timed = await cli("default", "--duration", "500us", "--json", "--timing");
    expect(timed.code).toBe(0);
    expect(timed.out).toBe(plain.out); // wall time never enters the report
    const lines = timed.err.trimEnd().split("\n");
    expect(lines.map((l) => l.split(":")[0])).toEqual([
      "timing 1/3 direct",
      "timing 2/3 service-domain",
      "timing 3/3 bare-metal",
    ]);
    for (const l of lines)
      expect(l).toMatch(
        /: wall \d+\.\d{3} s, simulated 500\.0 us, [\d,]+ events, [\d.e+-]+ simulated s per wall s, [\d,]+ I\/Os per wall s$/,
      );
    const ios = JSON.parse(plain.out).points[0].paths.direct.ios;
    expect(ios).toBeGreaterThan(0);
    expect(Number(lines[0]!.match(/([\d,]+) events/)![1]!.replaceAll(",", ""))).toBeGreaterThan(
      ios,
    );
  });

  test("is refused with --queue (the runs would go elsewhere)", async () => {
    const r = await cli("default", "--timing", "--queue", "redis://127.0.0.1:6379");
    expect(r.code).toBe(2);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.err).toContain("--timing");
  });
});
