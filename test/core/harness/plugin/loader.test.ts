import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { isPlugin } from "../../../../core/harness/plugin/define.ts";
import {
  BUILTIN_PLUGIN_DIR,
  isPluginPath,
  listBuiltinPlugins,
  loadPlugin,
  REPO_ROOT,
} from "../../../../core/harness/plugin/loader.ts";
import { InputError } from "../../../../core/index.ts";

const FIXTURES = resolve(import.meta.dir, "../../../fixtures/plugins");

async function inputError(p: Promise<unknown>): Promise<InputError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error("expected an InputError");
}

describe("loadPlugin", () => {
  test("the repo root and plugins folder are found from the core's own location", () => {
    expect(BUILTIN_PLUGIN_DIR).toBe(join(REPO_ROOT, "plugins"));
    expect(REPO_ROOT).toBe(resolve(import.meta.dir, "../../../.."));
  });

  test("tells paths from names", () => {
    for (const s of ["./x", "../x", "/abs/x", "x.ts", "dir/x.js", "x.mjs"])
      expect(isPluginPath(s)).toBe(true);
    for (const s of ["first-fit", "acme/nic", "bitmap-next-fit"])
      expect(isPluginPath(s)).toBe(false);
  });

  test("loads built-ins by name", async () => {
    const ff = await loadPlugin("first-fit", { cwd: "/" });
    expect(isPlugin(ff)).toBe(true);
    expect([ff.name, ff.kind]).toEqual(["first-fit", "policy.global"]);
    const bn = await loadPlugin("bitmap-next-fit", { cwd: "/" });
    expect([bn.name, bn.kind]).toEqual(["bitmap-next-fit", "policy.local"]);
  });

  test("loads a file by relative or absolute path (default export)", async () => {
    const a = await loadPlugin("./fixtures/plugins/observer.ts", {
      cwd: resolve(FIXTURES, "../.."),
    });
    const b = await loadPlugin(join(FIXTURES, "observer.ts"), { cwd: "/" });
    expect(a.name).toBe("fixture-observer");
    expect(b).toBe(a);
  });

  test("takes the single branded export when there is no default plugin", async () => {
    const p = await loadPlugin("./named-export.ts", { cwd: FIXTURES });
    expect([p.name, p.kind]).toEqual(["fixture-named", "policy.global"]);
  });

  test("explains files that are not plugins", async () => {
    const two = await inputError(loadPlugin("./two-plugins.ts", { cwd: FIXTURES }));
    expect(two.message).toContain("exports 2 plugins (one, two)");
    const fake = await inputError(loadPlugin("./not-a-plugin.ts", { cwd: FIXTURES }));
    expect(fake.message).toContain("does not export a plugin");
    expect(fake.message).toContain(
      "default export: object {name, kind, version, setup}, answer: number",
    );
    expect(fake.message).toContain("definePlugin");
    const missing = await inputError(loadPlugin("./nope.ts", { cwd: FIXTURES }));
    expect(missing.message).toContain('plugin file "./nope.ts" not found');
    const broken = await inputError(loadPlugin("./broken.ts", { cwd: FIXTURES }));
    expect(broken.message).toContain('plugin file "./broken.ts" failed to load');
    expect(broken.message).toContain('name "Not Valid" must match');
  });

  test("an unknown name lists the known built-ins, sorted, with a suggestion", async () => {
    const e = await inputError(loadPlugin("first-fitt", { cwd: "/" }));
    expect(e.message).toContain('unknown plugin "first-fitt" (did you mean "first-fit"?)');
    const listed = e.message.match(/built-in plugins: ([^;]*);/)![1].split(", ");
    expect(listed).toContain("first-fit");
    expect(listed).toContain("bitmap-next-fit");
    expect(listed).toEqual([...listed].sort());
    const far = await inputError(loadPlugin("zzzzzz", { cwd: "/" }));
    expect(far.message).not.toContain("did you mean");
  });

  test("finds a built-in by its declared name when the file is named otherwise", async () => {
    const p = await loadPlugin("fixture-observer", { cwd: "/", builtinDir: FIXTURES });
    expect(p.name).toBe("fixture-observer");
    const e = await inputError(loadPlugin("observer", { cwd: "/", builtinDir: FIXTURES }));
    expect(e.message).toContain("built-in plugins: fixture-named, fixture-observer;");
  });
});

describe("listBuiltinPlugins", () => {
  test("describes every built-in, sorted by name", async () => {
    const list = await listBuiltinPlugins();
    const names = list.map((p) => p.name);
    expect(names).toEqual([...names].sort());
    expect(list.find((p) => p.name === "first-fit")).toEqual({
      name: "first-fit",
      kind: "policy.global",
      version: "1.0.0",
      description: expect.any(String),
      path: join(BUILTIN_PLUGIN_DIR, "policies", "first-fit.ts"),
    });
    expect(list.find((p) => p.name === "bitmap-next-fit")?.kind).toBe("policy.local");
  });

  test("skips files that are not plugins or fail to load", async () => {
    const list = await listBuiltinPlugins({ builtinDir: FIXTURES });
    expect(list.map((p) => p.name)).toEqual(["fixture-named", "fixture-observer"]);
    expect(await listBuiltinPlugins({ builtinDir: join(FIXTURES, "does-not-exist") })).toEqual([]);
  });
});
