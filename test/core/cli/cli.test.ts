import { describe, expect, test } from "bun:test";
import { main } from "../../../core/cli/main.ts";
import { expectStableShape } from "../../helpers/report.ts";

/** Runs the CLI in-process and captures what it prints. */
async function cli(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, {
    out: { write: (s: string) => (out += s) },
    err: { write: (s: string) => (err += s) },
  });
  return { code, out, err };
}

describe("bun run scenario", () => {
  test("runs the default scenario and prints the results table", async () => {
    const r = await cli("--duration", "2ms");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("default:");
    expect(r.out).toMatch(/direct\s+\d+\.\d+/);
  });

  test("--json prints the stable report shape", async () => {
    const r = await cli("default", "--duration", "1ms", "--json");
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out);
    expectStableShape(rep);
    const m = rep.points[0].paths.direct;
    expect(m.throughputGbps).toBeGreaterThan(0);
    expect(m.perIo.hypercalls).toBeGreaterThan(0);
  });

  test("bad input exits 2 with the field path and what is allowed", async () => {
    const cases: [string[], RegExp][] = [
      [
        ["--set", "machine.domains.0.memoryMiB=12"],
        /\/machine\/domains\/0\/memoryMiB: must be a multiple of 8/,
      ],
      [
        ["--set", "machine.devices.0.domain=nobody"],
        /\/machine\/devices\/0\/domain: no such domain \(known: primary, ldg1, ldg2\)/,
      ],
      [["--set", "cost.tteWriteNs=-1"], /\/cost\/tteWriteNs: .*allowed: integer/],
      [["--set", "cost.nope=1"], /\/cost\/nope: Unknown property/],
      [["--set", 'workloads.0.plugin=["stream",{"op":"fly"}]'], /plugin "stream" option \/op: /],
      [["--set", "policies.local=no-such-policy"], /unknown|no-such-policy/],
      [["--seed", "-4"], /\/seed: /],
      [["--duration", "soon"], /\/duration/],
      [["nope"], /unknown scenario "nope"/],
      [["--frob"], /unknown flag --frob; allowed: --seed/],
      [["--set", "oops"], /expected key=value/],
      [
        ["./test/fixtures/scenarios/wrong-field.ts"],
        /\/machine\/domains\/0\/memoryMB: Unknown property \(did you mean "memoryMiB"\?\)/,
      ],
    ];
    for (const [argv, re] of cases) {
      const r = await cli(...argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.err).toMatch(re);
      expect(r.err).not.toContain("    at "); // a message, not a stack trace
    }
  });

  test("list and plugins", async () => {
    expect((await cli("list")).out).toContain("default");
    const p = await cli("plugins");
    for (const name of ["first-fit", "bitmap-next-fit", "direct", "nic", "stream"])
      expect(p.out).toContain(name);
  });
});
