import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventBus, type TraceEvent, TraceRecorder } from "../../../../core/model/events/index.ts";

/** A fixed little run: two guests doing DMA, I/O, hypercalls, LDC traffic and metrics. */
function run(recorderOptions: { maxEvents?: number } = {}) {
  let now = 0;
  const bus = new EventBus(() => now);
  const rec = new TraceRecorder(bus, {
    domainNames: ["primary", "guest1", "guest2"],
    ...recorderOptions,
  });
  const at = (t: number) => {
    now = t;
  };
  at(1000);
  bus.emit("ldc.send", { channel: 1, from: 1, to: 0, msg: "DVMA_REQ", id: 1 });
  at(3000);
  bus.emit("ldc.deliver", { channel: 1, from: 1, to: 0, msg: "DVMA_REQ", id: 1 });
  bus.emit("dvma.grant", { domain: 1, devhandle: 0x200, base: 0, npages: 64 });
  at(5000);
  bus.emit("hcall", { domain: 1, fn: "pci_iommu_map", status: 0, count: 8, durNs: 500 });
  at(5200);
  // starts at 4900, overlapping the previous one on guest1's hcalls thread: an instant
  bus.emit("hcall", { domain: 1, fn: "pci_iommu_getmap", status: 0, count: 0, durNs: 300 });
  at(6000);
  bus.emit("hcall", { domain: 1, fn: "pci_iommu_demap", status: 0, count: 8, durNs: 250 });
  at(9000);
  bus.emit("dma.done", {
    device: "nic0",
    domain: 1,
    devhandle: 0x200,
    dvma: 0x80000000,
    bytes: 1500,
    write: true,
    durNs: 3000,
  });
  at(9500);
  // overlaps the previous transfer on the same device: fine for async events
  bus.emit("dma.done", {
    device: "nic0",
    domain: 1,
    devhandle: 0x200,
    dvma: 0x80002000,
    bytes: 1500,
    write: false,
    durNs: 2500,
  });
  bus.emit("io.done", {
    domain: 2,
    path: "service-domain",
    op: "read",
    bytes: 4096,
    latencyNs: 8000,
  });
  bus.emit("iotlb.flush", { devhandle: 0x200, entries: 8 });
  bus.emit("metric", { domain: 0, name: "cpu", value: 0.5 });
  at(12345);
  bus.emit("dma.fault", {
    device: "nvme0",
    domain: 2,
    devhandle: 0x200,
    dvma: 0x80000000,
    reason: "not owner",
  });
  bus.emit("domain.state", { domain: 5, name: "late-guest", state: "running" });
  bus.emit("attack", {
    domain: 2,
    attack: "rogue-dma",
    blocked: false,
    detail: "hit guest1's page",
  });
  return rec;
}

const byPh = (events: TraceEvent[], ph: string) => events.filter((e) => e.ph === ph);

describe("TraceRecorder", () => {
  test("produces a Chrome trace with process and thread metadata", () => {
    const trace = run().toJSON();
    expect(trace.displayTimeUnit).toBe("ns");
    const meta = byPh(trace.traceEvents, "M");
    const processes = meta
      .filter((m) => m.name === "process_name")
      .map((m) => [m.pid, m.args?.name]);
    expect(processes).toEqual([
      [0, "hypervisor"],
      [1, "primary"],
      [2, "guest1"],
      [3, "guest2"],
      [6, "late-guest"],
    ]);
    const threads = meta
      .filter((m) => m.name === "thread_name")
      .map((m) => [m.pid, m.tid, m.args?.name]);
    expect(threads).toEqual([
      [0, 1, "ldc 1"],
      [2, 2, "dvma"],
      [2, 3, "hcalls"],
      [2, 4, "dma nic0"],
      [3, 5, "io service-domain"],
      [0, 6, "iotlb 512"],
      [3, 7, "dma nvme0"],
      [6, 8, "state"],
      [3, 9, "attacks"],
    ]);
    // metadata first
    const firstNonMeta = trace.traceEvents.findIndex((e) => e.ph !== "M");
    expect(trace.traceEvents.slice(firstNonMeta).every((e) => e.ph !== "M")).toBe(true);
    // every pid/tid used by an event is named
    const named = new Set(
      meta.filter((m) => m.name === "thread_name").map((m) => `${m.pid}/${m.tid}`),
    );
    for (const e of trace.traceEvents)
      if (e.ph !== "M" && e.ph !== "C") expect(named.has(`${e.pid}/${e.tid}`)).toBe(true);
  });

  test("DMA and I/O are async b/e pairs; hcalls are X unless they overlap", () => {
    const events = run().toJSON().traceEvents;
    const begins = byPh(events, "b");
    const ends = byPh(events, "e");
    expect(begins.length).toBe(3);
    expect(ends.length).toBe(3);
    for (const b of begins) {
      const e = ends.find((x) => x.id === b.id)!;
      expect(e).toBeDefined();
      expect([e.cat, e.name, e.pid, e.tid]).toEqual([b.cat, b.name, b.pid, b.tid]);
      expect(e.ts!).toBeGreaterThanOrEqual(b.ts!);
    }
    const dma = begins.find((b) => b.cat === "dma")!;
    expect(dma).toMatchObject({ name: "nic0 write", ts: 6, pid: 2 });
    expect(dma.args).toEqual({
      device: "nic0",
      domain: 1,
      devhandle: 0x200,
      dvma: 0x80000000,
      bytes: 1500,
      write: true,
      durNs: 3000,
    });
    expect(new Set(begins.map((b) => b.id)).size).toBe(3);

    const slices = byPh(events, "X");
    expect(slices.map((x) => [x.name, x.ts, x.dur])).toEqual([
      ["pci_iommu_map", 4.5, 0.5],
      ["pci_iommu_demap", 5.75, 0.25],
    ]);
    // no two X on one track overlap
    for (let i = 1; i < slices.length; i++) {
      if (slices[i].tid === slices[i - 1].tid) {
        expect(slices[i].ts!).toBeGreaterThanOrEqual(slices[i - 1].ts! + slices[i - 1].dur!);
      }
    }
    const instants = byPh(events, "i");
    expect(instants.find((i) => i.name === "pci_iommu_getmap")).toMatchObject({
      ts: 5.2,
      s: "t",
      pid: 2,
      cat: "hcall",
    });
    expect(instants.find((i) => i.cat === "attack")?.args).toEqual({
      domain: 2,
      attack: "rogue-dma",
      blocked: false,
      detail: "hit guest1's page",
    });
    expect(byPh(events, "C")).toEqual([
      { name: "cpu", cat: "metric", ph: "C", ts: 9.5, pid: 1, tid: 0, args: { value: 0.5 } },
    ]);
  });

  test("serialize is deterministic, parses back to toJSON, and write() writes the same bytes", async () => {
    const a = run();
    const b = run();
    const text = a.serialize();
    expect(text).toBe(b.serialize());
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(a.toJSON())));
    const dir = mkdtempSync(join(tmpdir(), "trace-"));
    try {
      const path = join(dir, "t.trace.json");
      const bytes = await a.write(path);
      expect(await Bun.file(path).text()).toBe(text);
      expect(bytes).toBe(Buffer.byteLength(text));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("field order given by the emitter does not change the bytes", () => {
    const make = (fields: Record<string, unknown>) => {
      const bus = new EventBus(() => 10);
      const rec = new TraceRecorder(bus, { domainNames: ["p"] });
      bus.emit("dvma.grant", fields as never);
      return rec.serialize();
    };
    expect(make({ domain: 0, devhandle: 1, base: 2, npages: 3 })).toBe(
      make({ npages: 3, base: 2, devhandle: 1, domain: 0 }),
    );
  });

  test("caps recorded events, never splits a b/e pair, and reports drops", () => {
    const rec = run({ maxEvents: 6 });
    const trace = rec.toJSON();
    const nonMeta = trace.traceEvents.filter((e) => e.ph !== "M");
    expect(nonMeta.length).toBeLessThanOrEqual(6);
    expect(byPh(nonMeta, "b").length).toBe(byPh(nonMeta, "e").length);
    expect(trace.otherData.droppedEvents).toBeGreaterThan(0);
    expect(trace.otherData.recordedEvents).toBe(nonMeta.length);
    expect(rec.droppedEvents).toBe(trace.otherData.droppedEvents as number);
    expect(trace.otherData.maxEvents).toBe(6);
  });

  test("close() stops recording; otherData carries caller figures", () => {
    const bus = new EventBus(() => 0);
    const rec = new TraceRecorder(bus, {
      domainNames: [],
      otherData: { scenario: "default", seed: 7 },
    });
    bus.emit("metric", { domain: 0, name: "x", value: 1 });
    rec.close();
    bus.emit("metric", { domain: 0, name: "x", value: 2 });
    expect(rec.recorded).toBe(1);
    expect(bus.wants("metric")).toBe(false);
    expect(rec.toJSON().otherData).toMatchObject({
      scenario: "default",
      seed: 7,
      generator: "sun4v-dvma",
    });
  });
});
