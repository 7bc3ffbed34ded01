import { expect, test } from "bun:test";
import { runOneGuest } from "../../helpers/one-guest.ts";

/** Ops and sizes of every I/O random-io completes on one guest's NVMe disk in 5 ms. */
async function ops(options: object): Promise<{ read: number; write: number; sizes: Set<number> }> {
  const out = { read: 0, write: 0, sizes: new Set<number>() };
  const r = await runOneGuest({
    kind: "nvme",
    workload: ["random-io", options],
    tap: (bus) =>
      bus.on("io.done", (e) => {
        out[e.op as "read" | "write"]++;
        out.sizes.add(e.bytes);
      }),
  });
  expect(r.metrics.errors).toBe(0);
  return out;
}

test("the read ratio is respected", async () => {
  const mixed = await ops({});
  const share = mixed.read / (mixed.read + mixed.write);
  expect(mixed.read + mixed.write).toBeGreaterThan(400);
  expect(share).toBeGreaterThan(0.65);
  expect(share).toBeLessThan(0.75);
  const heavy = await ops({ readRatio: 0.2 });
  expect(heavy.read / (heavy.read + heavy.write)).toBeLessThan(0.25);
  expect((await ops({ readRatio: 1 })).write).toBe(0);
  expect((await ops({ readRatio: 0 })).read).toBe(0);
});

test("block size and iodepth", async () => {
  const big = await ops({ blockSize: 65536, iodepth: 4 });
  expect([...big.sizes]).toEqual([65536]);
  const shallow = await ops({ iodepth: 1, readRatio: 1 });
  const deep = await ops({ iodepth: 8, readRatio: 1 });
  // Eight channels serve eight reads at once.
  expect(deep.read).toBeGreaterThan(6 * shallow.read);
});
