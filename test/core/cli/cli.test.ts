import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { main } from "../../../core/cli/main.ts";
import { cli } from "../../helpers/cli.ts";
import { expectStableShape } from "../../helpers/report.ts";

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
      [["--seed", "-4"], /--seed "-4": expected integer/],
      [["--duration", "soon"], /--duration "soon": expected a time > 0 with a unit/],
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

describe("commands, help and flags", () => {
  test("--version prints the package version", async () => {
    const pkg = await Bun.file(new URL("../../../package.json", import.meta.url)).json();
    const r = await cli("--version");
    expect(r).toEqual({ code: 0, out: `sun4v-dvma ${pkg.version}\n`, err: "" });
  });

  test("each subcommand has its own help; help is never a scenario name", async () => {
    const root = await cli("help");
    expect(root.code).toBe(0);
    expect(root.out).toContain("USAGE scenario run|list|plugins|check-policy|worker|help");
    const run = await cli("run", "--help");
    expect(run.out).toContain("USAGE scenario run [OPTIONS] [TARGET]");
    expect(run.out).toContain("--serve"); // the live plugin's flag, merged
    expect((await cli("default", "--help")).out).toBe(run.out);
    const check = await cli("help", "check-policy");
    expect(check.out).toContain("USAGE scenario check-policy [OPTIONS] [POLICY]");
    expect(check.out).not.toContain("--duration");
    expect((await cli("check-policy", "-h")).out).toBe(check.out);
  });

  test("no colour codes when not a terminal, nor with NO_COLOR on a terminal", async () => {
    expect((await cli("run", "--help")).out).not.toContain("\x1b[");
    const saved = process.env.NO_COLOR;
    process.env.NO_COLOR = "1";
    try {
      let out = "";
      const tty = { write: (s: string) => (out += s), isTTY: true };
      expect(await main(["run", "--help"], { out: tty, err: tty })).toBe(0);
      expect(out).toContain("USAGE");
      expect(out).not.toContain("\x1b[");
    } finally {
      if (saved === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = saved;
    }
  });

  test("boolean flags: --json, --json=true, --no-json and --json=false", async () => {
    const base = ["default", "--duration", "200us", "--workers", "1"];
    const on = await cli(...base, "--json");
    expect(JSON.parse(on.out).scenario).toBe("default");
    expect((await cli(...base, "--json=true")).out).toBe(on.out);
    for (const off of ["--no-json", "--json=false"]) {
      const r = await cli(...base, off);
      expect(r.code).toBe(0);
      expect(r.out.startsWith("default: ")).toBe(true);
    }
  });

  test("plugins lists each plugin's options with description and default", async () => {
    const r = await cli("plugins");
    expect(r.out).toMatch(
      /policy\.local\s+bitmap-next-fit\s+.*\n\s+perCpuHint: true or false — keep one next-fit hint per virtual CPU .*\(default false\)/,
    );
    expect(r.out).toMatch(/\n\s+port: integer from 0 to 65535 — TCP port .*\(default 8787\)/);
  });
});

describe("plugins bring their own flags", () => {
  const FLAGGED = "test/fixtures/flagged-observer.ts";

  test("a --plugin file's flag is parsed strictly and turns the observer on", async () => {
    const file = resolve(tmpdir(), `flagged-${process.pid}.txt`);
    rmSync(file, { force: true });
    const base = ["default", "--duration", "100us", "--quiet", "--plugin", FLAGGED];
    const r = await cli(...base, "--count-to", file);
    expect(r.code).toBe(0);
    expect(await Bun.file(file).text()).toBe("3"); // one per path
    rmSync(file);
    const bad = await cli(...base, "--count-to=");
    expect(bad).toEqual({ code: 2, out: "", err: 'error: --count-to "": expected a file path\n' });
    // Without the file, the flag is unknown.
    expect((await cli("default", "--count-to", file)).err).toContain("unknown flag --count-to");
  });
});
