/**
 * The core's layers point down only (DESIGN section 2): every import in core/ goes to its own
 * layer or a lower one, and nothing in core/ imports plugins/ or anything else outside core/.
 */
import { describe, expect, test } from "bun:test";
import { dirname, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const CORE = resolve(ROOT, "core");

/** Lowest first. A file belongs to the first layer whose prefix its path (from core/) starts with. */
const LAYERS = [
  ["input", "input/"],
  ["sim", "model/sim/"],
  ["events", "model/events/"],
  ["machine", "model/machine/"],
  ["iommu", "model/iommu/"],
  ["hv", "model/hv/"],
  ["domains", "model/domains/"],
  ["harness", "harness/"],
  ["cli", "cli/"],
  // The public API re-exports every layer; nothing inside core imports it.
  ["api", "index.ts"],
] as const;

function layerOf(fromCore: string): number {
  return LAYERS.findIndex(([, prefix]) =>
    prefix.endsWith("/") ? fromCore.startsWith(prefix) : fromCore === prefix,
  );
}

/** Relative specifiers of every import, re-export, dynamic import and `new URL(x, import.meta.url)`. */
function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|new URL\(\s*)"([^"]+)"/g;
  return [...code.matchAll(re)].map((m) => m[1]!).filter((s) => s.startsWith("."));
}

/** Every arrow that breaks the layering, one line each. */
function layerViolations(files: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [file, source] of files) {
    const from = layerOf(file);
    if (from < 0) {
      out.push(
        `core/${file} is in no layer (put it under input/, model/<layer>/, harness/ or cli/)`,
      );
      continue;
    }
    for (const spec of importsOf(source)) {
      const target = relative(CORE, resolve(CORE, dirname(file), spec));
      if (target.startsWith("..")) {
        out.push(`core/${file} imports ${spec}, outside core/`);
        continue;
      }
      const to = layerOf(target);
      if (to > from)
        out.push(`core/${file} (${LAYERS[from]![0]}) imports core/${target} (${LAYERS[to]![0]})`);
    }
  }
  return out;
}

async function coreFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for await (const f of new Bun.Glob("**/*.{ts,tsx}").scan({ cwd: CORE }))
    files.set(f, await Bun.file(resolve(CORE, f)).text());
  return files;
}

describe("core layers", () => {
  test("every import in core points to its own layer or a lower one, never outside core", async () => {
    const files = await coreFiles();
    let arrows = 0;
    for (const src of files.values()) arrows += importsOf(src).length;
    expect(files.size).toBeGreaterThan(50);
    expect(arrows).toBeGreaterThan(200);
    expect(layerViolations(files)).toEqual([]);
  });

  test("an arrow up, a plugin import and a file outside the layers are each reported", () => {
    const files = new Map([
      ["model/hv/x.ts", 'import type { DvmaBroker } from "../domains/broker.ts";'],
      ["model/sim/y.ts", 'export { a } from "../../../plugins/policies/first-fit.ts";'],
      ["harness/z.ts", 'const u = new URL("../cli/main.ts", import.meta.url);'],
      ["misc/w.ts", ""],
      [
        "model/domains/ok.ts",
        'import { PAGE_SIZE } from "../machine/memory.ts";\n// from "../../cli/x.ts"',
      ],
    ]);
    expect(layerViolations(files)).toEqual([
      "core/model/hv/x.ts (hv) imports core/model/domains/broker.ts (domains)",
      "core/model/sim/y.ts imports ../../../plugins/policies/first-fit.ts, outside core/",
      "core/harness/z.ts (harness) imports core/cli/main.ts (cli)",
      "core/misc/w.ts is in no layer (put it under input/, model/<layer>/, harness/ or cli/)",
    ]);
  });
});
