import { describe, expect, test } from "bun:test";
import { join } from "node:path";

// JSC logs every collection (BUN_JSC_logGC=1) to stderr. A young-generation collection runs when
// allocation fills the eden space (megabytes), so collections counted over millions of events in
// steady state bound what the kernel allocates per event, whatever the machine's speed.
const FIXTURE = join(import.meta.dir, "../../../fixtures/steady-kernel.ts");
const EVENTS = 4_000_000;

async function steadyCollections(...extra: string[]): Promise<number> {
  const proc = Bun.spawn(["bun", FIXTURE, "--events", String(EVENTS), ...extra], {
    env: { ...process.env, BUN_JSC_logGC: "1" },
    stdout: "ignore",
    stderr: "pipe",
  });
  const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  expect(code).toBe(0);
  const lines = err.split("\n");
  const from = lines.indexOf("STEADY");
  const to = lines.indexOf("END");
  expect(from).toBeGreaterThanOrEqual(0);
  expect(to).toBeGreaterThan(from);
  return lines.slice(from, to).filter((l) => l.startsWith("[GC") && l.includes("START")).length;
}

describe("no allocation per event in steady state", () => {
  test("timeouts, callbacks, free grants and locks: at most one collection in 4M events; one small object per timeout gives several", async () => {
    const [kernel, control] = await Promise.all([
      steadyCollections(),
      steadyCollections("--allocate"),
    ]);
    console.log(`collections in ${EVENTS} steady events: kernel ${kernel}, control ${control}`);
    // The control proves the method sees an allocation per event; one collection is allowed for
    // a late JIT compilation (it does not grow with the run's length).
    expect(control).toBeGreaterThanOrEqual(4);
    expect(kernel).toBeLessThanOrEqual(1);
  }, 120_000);
});
