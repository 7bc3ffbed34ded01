import { describe, expect, test } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import {
  EVENT_TYPES,
  type EventFields,
  type EventOf,
  EventSchemas,
  type EventType,
  eventErrors,
  type SimEvent,
  SimEventSchema,
  validateEvent,
} from "../../../../core/model/events/index.ts";

/** One valid field set per event kind (the compiler checks each against its schema type). */
const SAMPLE_FIELDS: { [K in EventType]: EventFields<K> } = {
  hcall: { domain: 1, fn: "pci_iommu_map", status: 0, count: 8, durNs: 350 },
  "ldc.send": { channel: 3, from: 1, to: 0, msg: "DVMA_REQ", id: 7 },
  "ldc.deliver": { channel: 3, from: 1, to: 0, msg: "DVMA_REQ", id: 7 },
  "ldc.drop": { channel: 3, from: 1, to: 0, msg: "DVMA_REQ", id: 7, reason: "queue full" },
  "ldc.reset": { channel: 3, reason: "endpoint died" },
  "dvma.grant": { domain: 1, devhandle: 0x200, base: 64, npages: 32 },
  "dvma.nack": { domain: 1, id: 9, reason: "window full" },
  "dvma.release": { domain: 1, devhandle: 0x200, base: 64, npages: 32, reason: "released" },
  "iommu.map": { domain: 1, devhandle: 0x200, index: 64, npages: 8 },
  "iommu.demap": { domain: 1, devhandle: 0x200, index: 64, npages: 8 },
  "iotlb.flush": { devhandle: 0x200, entries: 8 },
  "dma.done": {
    device: "nic0",
    domain: 1,
    devhandle: 0x200,
    dvma: 0x80080000,
    bytes: 1500,
    write: true,
    durNs: 1200,
  },
  "dma.fault": {
    device: "nic0",
    domain: 2,
    devhandle: 0x200,
    dvma: 0x80080000,
    reason: "not mapped",
  },
  "io.done": { domain: 1, path: "direct", op: "read", bytes: 4096, latencyNs: 9000 },
  "domain.state": { domain: 2, name: "guest2", state: "dead" },
  attack: { domain: 2, attack: "rogue-dma", blocked: true, detail: "faulted at IOMMU" },
  "plugin.error": { plugin: "first-fit", hook: "grant", message: "boom" },
  metric: { domain: 0, name: "cpu", value: 0.25 },
};

const KINDS = [
  "hcall",
  "ldc.send",
  "ldc.deliver",
  "ldc.drop",
  "ldc.reset",
  "dvma.grant",
  "dvma.nack",
  "dvma.release",
  "iommu.map",
  "iommu.demap",
  "iotlb.flush",
  "dma.done",
  "dma.fault",
  "io.done",
  "domain.state",
  "attack",
  "plugin.error",
  "metric",
];

describe("event schemas", () => {
  test("every kind of the design is defined, in a stable order", () => {
    expect(EVENT_TYPES).toEqual(KINDS as typeof EVENT_TYPES);
    expect(Object.keys(EventSchemas)).toEqual(KINDS);
  });

  test("a sample of every kind validates, with the envelope", () => {
    for (const type of EVENT_TYPES) {
      const e = { type, t: 1000, ...SAMPLE_FIELDS[type] };
      expect(eventErrors(e)).toEqual([]);
      expect(validateEvent(e)).toBe(true);
      expect(Value.Check(SimEventSchema, e)).toBe(true);
    }
  });

  test("rejects a missing field, a wrong type, an extra key, a bad envelope", () => {
    const good: EventOf<"hcall"> = { type: "hcall", t: 5, ...SAMPLE_FIELDS.hcall };
    const { status: _, ...missing } = good;
    const bad: unknown[] = [
      missing,
      { ...good, fn: 42 },
      { ...good, domain: -1 },
      { ...good, count: 1.5 },
      { ...good, extra: true },
      { ...good, t: 1.5 },
      { ...good, t: -1 },
      { ...good, type: "hcalls" },
      { ...SAMPLE_FIELDS.hcall, t: 5 },
      null,
      "hcall",
      { type: "dma.done", t: 0, ...SAMPLE_FIELDS["dma.done"], write: "yes" },
    ];
    for (const e of bad) {
      expect(validateEvent(e)).toBe(false);
      expect(eventErrors(e).length).toBeGreaterThan(0);
    }
  });

  test("eventErrors names the path and the kinds it knows", () => {
    expect(eventErrors({ type: "hcall", t: 0, ...SAMPLE_FIELDS.hcall, fn: 1 })).toEqual([
      "/fn: Expected string",
    ]);
    const unknown = eventErrors({ type: "nope", t: 0 });
    expect(unknown[0]).toContain('unknown event type "nope"');
    expect(unknown[0]).toContain("dma.done");
  });

  test("SimEvent narrows on type", () => {
    const e = { type: "io.done", t: 1, ...SAMPLE_FIELDS["io.done"] } as SimEvent;
    if (e.type === "io.done") expect(e.latencyNs).toBe(9000);
  });
});
