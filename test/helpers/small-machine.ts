import { EventBus } from "../../core/model/events/bus.ts";
import { Hypervisor } from "../../core/model/hv/hypervisor.ts";
import { parseCostModel, parseMachine } from "../../core/model/machine/parse.ts";

export const WINDOW_BASE = 0x8000_0000;

/** A small machine for tests: control + `guests` guests of 8 MiB, one device each on one root complex. */
export function smallMachine(
  opts: {
    guests?: number;
    windowPages?: number;
    isolation?: "shared" | "per-device";
    maxTtesPerCall?: number;
    guestMiB?: number;
  } = {},
) {
  const guests = opts.guests ?? 2;
  const names = Array.from({ length: guests }, (_, i) => `g${i + 1}`);
  return parseMachine({
    rootComplexes: [
      {
        devhandle: 0x200,
        virtualDma: { base: WINDOW_BASE, size: (opts.windowPages ?? 64) * 8192 },
        isolation: opts.isolation ?? "shared",
        iotlb: { sets: 4, ways: 2 },
      },
    ],
    domains: [
      { name: "primary", role: "control", memoryMiB: 16 },
      ...names.map((name) => ({ name, memoryMiB: opts.guestMiB ?? 8, strands: 2 })),
    ],
    devices: names.map((domain, i) => ({
      name: `dev${i + 1}`,
      devhandle: 0x200,
      requesterId: 0x100 + i * 8,
      domain,
    })),
    maxTtesPerCall: opts.maxTtesPerCall ?? 1024,
  });
}

export function smallHv(opts: Parameters<typeof smallMachine>[0] = {}) {
  return new Hypervisor(smallMachine(opts), parseCostModel({}));
}

/**
 * A small machine's hypervisor whose every event is recorded (without its time) and whose clock
 * moves only on `tick()`: for tests that pin what each call announces.
 */
export function recordedHv(opts: Parameters<typeof smallMachine>[0] = {}) {
  let now = 0;
  const bus = new EventBus(() => now);
  const events: Record<string, unknown>[] = [];
  bus.on("*", (e) => {
    const { t: _t, ...rest } = e as unknown as Record<string, unknown>;
    events.push(rest);
  });
  const cost = parseCostModel({});
  const hv = new Hypervisor(smallMachine(opts), cost, bus);
  const io = hv.iommus.get(0x200)!;
  const tick = () => now++;
  return { hv, io, cost, events, tick };
}

/** Writes `ras` as the IO page list at `listRa` in `domain`'s memory (as its kernel would). */
export function writeList(
  hv: Hypervisor,
  domain: number,
  listRa: number,
  ras: readonly number[],
): void {
  const mem = hv.domains[domain]!.mem;
  ras.forEach((ra, k) => {
    const at = listRa + k * 8;
    const page = mem.paPageOf(at);
    if (page < 0) throw new RangeError("list outside the domain's memory");
    hv.memory.words(page)[(at % 8192) / 8] = ra;
  });
}
