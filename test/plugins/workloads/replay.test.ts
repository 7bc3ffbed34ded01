import { describe, expect, test } from "bun:test";
import { parseTrace } from "../../../plugins/workloads/trace-parse.ts";
import { runAllocWorkload } from "./alloc-run.ts";

const FTRACE = "test/fixtures/traces/iommu-ftrace.txt";
const CSV = "test/fixtures/traces/maps.csv";

describe("replay: reading traces", () => {
  test("ftrace, older and newer line formats: CPU column, time from the first event, 8 KiB pages, unmaps paired by iova", async () => {
    const t = parseTrace(await Bun.file(FTRACE).text(), "auto");
    expect(t.problems).toEqual([]);
    expect(t.unpaired).toBe(1); // the unmap of 0xffff0000 before any map of it
    expect(t.ops.map((o) => [o.op, o.id, o.npages, o.cpu, o.atNs])).toEqual([
      ["map", 0, 1, 2, 0],
      ["map", 1, 1, 2, 2000],
      ["map", 2, 1, 0, 15000],
      ["unmap", 0, 1, 2, 20000],
      ["map", 3, 8, 3, 30000],
      ["unmap", 1, 1, 3, 40000],
      ["unmap", 2, 1, 0, 50000],
      ["unmap", 3, 8, 3, 60000],
    ]);
  });

  test("CSV: time_ns, cpu, op, size_bytes, id; an unmap names its map's id", async () => {
    const t = parseTrace(await Bun.file(CSV).text(), "auto");
    expect(t.problems).toEqual([]);
    expect(t.ops.map((o) => [o.op, o.id, o.npages, o.cpu, o.atNs])).toEqual([
      ["map", 0, 1, 0, 0],
      ["map", 1, 2, 1, 500],
      ["unmap", 0, 1, 0, 1200],
      ["map", 2, 37, 1, 1500],
      ["unmap", 1, 2, 1, 2500],
      ["unmap", 2, 37, 2, 4000],
    ]);
  });

  test("bad lines are reported with their line numbers", () => {
    const ftrace = [
      "# tracer: nop",
      "  iperf3-2041  [002] ..... 5012.000100: map: IOMMU: iova=0x1000 paddr=0x2000 size=4096",
      "garbage",
      "  iperf3-2041  [002] ..... 5012.000101: map: IOMMU: iova=0x1000 size=4096",
      "  iperf3-2041  [002] ..... 5012.000102: unmap: IOMMU: iova=0x1000 size=four unmapped_size=4096",
    ].join("\n");
    expect(parseTrace(ftrace, "ftrace").problems.map((p) => p.line)).toEqual([3, 4, 5]);
    const csv = [
      "time_ns,cpu,op,size_bytes,id",
      "0,0,map,8192,a",
      "5,0,map,8192,b",
      "3,0,map,8192,c",
      "9,0,grab,8192,d",
      "9,0,map,-1,e",
      "9,0,map,1",
    ].join("\n");
    expect(parseTrace(csv, "csv").problems).toEqual([
      { line: 4, message: "time_ns 3 is before the line above (5)" },
      { line: 5, message: 'op "grab" is not map or unmap' },
      { line: 6, message: 'size_bytes "-1" is not a positive whole number' },
      { line: 7, message: "expected 5 fields (time_ns,cpu,op,size_bytes,id), got 4" },
    ]);
    expect(parseTrace("time,cpu,op,size,id\n", "csv").problems[0]).toEqual({
      line: 1,
      message: "expected the header time_ns,cpu,op,size_bytes,id",
    });
  });
});

describe("replay: playing a trace", () => {
  test("the fixture trace replays through the guest's DMA API: every map mapped, every paired unmap unmapped", async () => {
    const r = await runAllocWorkload(["replay", { file: FTRACE }]);
    const e = r.metrics.extra;
    expect(e["alloc.maps"]).toBe(4);
    expect(e["alloc.failures"]).toBe(0);
    expect(e["alloc.liveMappings"]).toBe(0);
    expect(e["replay.unpairedUnmaps"]).toBe(1);
    expect(e["map.count"]).toBe(4);
  });

  test("a trace with a bad line stops the run before it starts, naming the file and the line", async () => {
    const bad = "/tmp/replay-bad-trace.csv";
    await Bun.write(bad, "time_ns,cpu,op,size_bytes,id\n0,0,map,8192,a\n1,0,oops,1,b\n");
    await expect(runAllocWorkload(["replay", { file: bad }])).rejects.toThrow(
      `replay: 1 unreadable line(s):\n${bad}:3: op "oops" is not map or unmap`,
    );
  });
});
