/**
 * The README's cost-model table is the list of every constant the model runs on: each constant
 * of the cost model and each numeric option of a device plugin has a row with its default, whether
 * it is fitted (to which published figure) or assumed, and its source. A new constant without a
 * row, or a default changed without its row, fails here.
 */
import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import type { TSchema } from "@sinclair/typebox";
import { listBuiltinPlugins, loadPlugin } from "../../../../core/index.ts";
import { CostModelSchema } from "../../../../core/model/machine/cost-model.ts";

const README = await Bun.file(resolve(import.meta.dir, "../../../../README.md")).text();

interface Row {
  value: number;
  kind: "fitted" | "assumed";
  source: string;
}

/** The rows of the table under "## Cost model", by constant; throws on a malformed row. */
function costTable(markdown: string): Map<string, Row> {
  const start = markdown.indexOf("\n## Cost model\n");
  if (start < 0) throw new Error('README has no "## Cost model" section');
  const end = markdown.indexOf("\n## ", start + 1);
  const rows = new Map<string, Row>();
  for (const line of markdown.slice(start, end).split("\n")) {
    if (!line.startsWith("|") || line.startsWith("|---") || line.startsWith("| constant |"))
      continue;
    const m =
      /^\| (?:[^|`]*)`([\w.-]+)` \| ([\d.]+)(?: [^|]*)? \| (fitted|assumed) \| ([^|]+) \|$/.exec(
        line,
      );
    if (m === null) throw new Error(`malformed cost-model row: ${line}`);
    const name = line.startsWith("| `") ? m[1]! : `${line.slice(2, line.indexOf("`"))}${m[1]}`;
    rows.set(name, { value: Number(m[2]), kind: m[3] as Row["kind"], source: m[4]!.trim() });
  }
  return rows;
}

const table = costTable(README);

function numericDefaults(schema: { properties: Record<string, TSchema> }): [string, TSchema][] {
  return Object.entries(schema.properties).filter(
    ([, s]) => s.type === "integer" || s.type === "number",
  );
}

describe("README cost-model table", () => {
  test("every cost-model constant has a row with its default, fitted or assumed, and a source", () => {
    const keys = Object.keys(CostModelSchema.properties);
    expect(keys.length).toBeGreaterThan(20);
    for (const [key, schema] of numericDefaults(CostModelSchema)) {
      const row = table.get(key);
      expect({ key, row: row !== undefined }).toEqual({ key, row: true });
      expect({ key, value: row!.value }).toEqual({ key, value: schema.default as number });
      expect(row!.source.length).toBeGreaterThan(10);
      // The schema's own description says the same: "Fitted: ..." or "Assumed".
      const marker = row!.kind === "fitted" ? "Fitted" : "Assumed";
      expect({ key, marked: String(schema.description).includes(marker) }).toEqual({
        key,
        marked: true,
      });
    }
    expect(numericDefaults(CostModelSchema).length).toBe(keys.length);
  });

  test("every numeric option of every device plugin has a row", async () => {
    const devices = (await listBuiltinPlugins()).filter((p) => p.kind === "device");
    expect(devices.map((d) => d.name)).toContain("nic");
    for (const info of devices) {
      const plugin = await loadPlugin(info.name, { cwd: process.cwd() });
      const options = plugin.options as { properties: Record<string, TSchema> } | undefined;
      for (const [key, schema] of numericDefaults(options ?? { properties: {} })) {
        const name = `${info.name}.${key}`;
        const row = table.get(name);
        expect({ name, row: row !== undefined }).toEqual({ name, row: true });
        expect({ name, value: row!.value }).toEqual({ name, value: schema.default as number });
        expect(row!.source.length).toBeGreaterThan(10);
      }
    }
  });

  test("a fitted constant names the published figure it was fitted to", () => {
    const fitted = [...table].filter(([, r]) => r.kind === "fitted");
    expect(fitted.map(([k]) => k).sort()).toEqual([
      "backendRequestCpuNs",
      "calibration's peerRttNs",
      "ldcLatencyNs",
    ]);
    for (const [, r] of fitted) expect(r.source).toMatch(/published/);
  });
});
