import { describe, expect, test } from "bun:test";
import { join } from "node:path";

// JSC logs every collection (BUN_JSC_logGC=1) to stderr. A young-generation collection runs when
// allocation fills the eden space (megabytes), so collections counted over millions of events in
// steady state bound what the kernel allocates per event, whatever the machine's speed. A
// collection or two that the engine makes for its own reasons (a late compilation) does not grow
// with the run's length, so the kernel is judged by the growth from EVENTS to 4 x EVENTS.
const FIXTURE = join(import.meta.dir, "../../../fixtures/steady-kernel.ts");
const EVENTS = 4_000_000;

async function steadyCollections(events: number, ...extra: string[]): Promise<number> {
  const proc = Bun.spawn(["bun", FIXTURE, "--events", String(events), ...extra], {
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
  test("timeouts, callbacks, free grants and locks: at most one more collection in 16M events than in 4M; one small object per timeout gives several in 4M", async () => {
    const [short, long, control] = await Promise.all([
      steadyCollections(EVENTS),
      steadyCollections(4 * EVENTS),
      steadyCollections(EVENTS, "--allocate"),
    ]);
    console.log(
      `collections in steady events: kernel ${short} in ${EVENTS}, ${long} in ${4 * EVENTS}; control ${control} in ${EVENTS}`,
    );
    // The control proves the method sees an allocation per event.
    expect(control).toBeGreaterThanOrEqual(4);
    expect(long - short).toBeLessThanOrEqual(1);
  }, 120_000);
});
