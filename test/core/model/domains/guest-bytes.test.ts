import { describe, expect, test } from "bun:test";
import { type PathRunState, startPath } from "../../../../core/harness/scenario/runner.ts";
import { loadScenarioPlugins, parseScenario } from "../../../../core/index.ts";

/**
 * Memory per guest: the typed-array bytes a booted, running machine holds, counted by walking
 * everything reachable from the platform, minus the simulated RAM (the hypervisor's page tables
 * of owner and content, sized by each domain's memoryMiB) and minus each guest's local policy
 * (its own DVMA state). What is left is bookkeeping, and must not grow with the window.
 */
const LIMIT = 64 * 1024;

function typedBytes(root: unknown, skip: Set<unknown>): number {
  const seen = new Set<unknown>(skip);
  const buffers = new Set<ArrayBufferLike>();
  const stack: unknown[] = [root];
  let bytes = 0;
  while (stack.length > 0) {
    const o = stack.pop();
    if (o === null || typeof o !== "object" || seen.has(o)) continue;
    seen.add(o);
    if (ArrayBuffer.isView(o)) {
      if (!buffers.has(o.buffer)) {
        buffers.add(o.buffer);
        bytes += o.buffer.byteLength;
      }
      continue;
    }
    if (o instanceof Map) for (const [k, v] of o) stack.push(k, v);
    if (o instanceof Set) for (const v of o) stack.push(v);
    for (const k of Object.getOwnPropertyNames(o)) stack.push((o as Record<string, unknown>)[k]);
  }
  return bytes;
}

async function running(guests: number): Promise<PathRunState> {
  const scn = parseScenario({
    name: "guest-bytes",
    duration: "1ms",
    machine: {
      rootComplexes: [{ devhandle: 0x200 }], // the default window: 262,144 entries
      domains: [{ name: "primary", role: "control", strands: 8, memoryMiB: 1024 }],
      guestPool: {
        count: guests,
        namePrefix: "ldg",
        strands: 2,
        memoryMiB: 64,
        devices: [{ kind: "nic", devhandle: 0x200 }],
      },
    },
    paths: ["direct"],
    workloads: [{ plugin: ["stream", { op: "tx", bytes: 1500, inflight: 8 }] }],
  });
  const state = startPath(scn, "direct", await loadScenarioPlugins(scn, process.cwd()), {});
  state.sim.run(state.untilNs);
  return state;
}

function bookkeeping(state: PathRunState): number {
  const { platform } = state;
  const skip = new Set<unknown>([platform.hv.memory]);
  for (const api of platform.dmaApisInUse) {
    const policy = api.accounting.policy as { inner?: unknown };
    skip.add(policy.inner ?? policy);
  }
  return typedBytes(platform, skip);
}

describe("memory per guest", () => {
  test(`a guest's bookkeeping beyond its own DVMA state stays under ${LIMIT / 1024} KiB`, async () => {
    const few = await running(4);
    const many = await running(12);
    expect(many.platform.guests.length).toBe(12);
    expect(many.platform.hv.iommus.get(0x200)!.windowPages).toBe(262_144);
    const perGuest = (bookkeeping(many) - bookkeeping(few)) / 8;
    console.log(`typed-array bytes per guest: ${perGuest} (window 262,144 entries)`);
    expect(perGuest).toBeGreaterThan(0);
    expect(perGuest).toBeLessThanOrEqual(LIMIT);
  });
});
