/**
 * Property: whatever `set` list a request carries, the server imports nothing. The catalogue is
 * loaded once at start through a counting loader; every generated request (plugin fields,
 * matrices, [name, options] pairs, path spellings, prototype keys) is then checked, and the
 * loader is never called again, the marker module is never imported, and an accepted request
 * names only catalogue plugins. The seed is test/helpers/fc.ts's (FC_SEED).
 */

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import fc from "fast-check";
import { loadPlugin, parseScenario, pluginUses } from "../../../core/index.ts";
import { Catalogue } from "../../../plugins/live/catalogue.ts";
import { FeedHub } from "../../../plugins/live/hub.ts";
import live from "../../../plugins/live/index.ts";
import { LiveObserver } from "../../../plugins/live/observer.ts";
import { RunRegistry } from "../../../plugins/live/runs.ts";

const FIXTURE = resolve(import.meta.dir, "../../fixtures/live/marker.ts");
const dir = mkdtempSync(join(tmpdir(), "sun4v-live-prop-"));
const MARKER = join(dir, "marker");
process.env.SUN4V_LIVE_MARKER = MARKER;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIELDS = [
  "policies.global",
  "policies.local",
  "paths.0",
  "paths.1",
  "devices.nic",
  "devices.disk",
  "workloads.0.plugin",
  "machine.devices.0.kind",
];
const PATHS = [
  FIXTURE,
  `./${relative(process.cwd(), FIXTURE)}`,
  relative(process.cwd(), FIXTURE),
  `file://${FIXTURE}`,
  encodeURIComponent(FIXTURE),
  "../test/fixtures/live/marker",
  "marker",
  "./plugins/policies/first-fit.ts",
  "plugins/policies/first-fit",
  FIXTURE.replaceAll("/", "\u2215"),
];
const NAMES = ["first-fit", "bitmap-next-fit", "direct", "service-domain", "nic", "random-io"];

describe("catalogue: no set list makes the server import a module", () => {
  test("property over generated set lists", async () => {
    let loads = 0;
    const counting: typeof loadPlugin = (spec, opts) => {
      loads++;
      return loadPlugin(spec, opts);
    };
    const catalogue = await Catalogue.load(process.cwd(), [], counting);
    const loadsAtStart = loads;
    const hub = new FeedHub(10, 10);
    const feed = new LiveObserver(hub);
    const registry = new RunRegistry(
      feed,
      // Each run registers the live plugin with the feed it puts the run on (no server here).
      () => [live, {}, { feed }] as never,
      Promise.resolve(catalogue),
      {
        maxRuns: 64,
        maxDurationNs: 1e9,
        maxPoints: 64,
        maxQueuedNs: 1e12,
        maxWallSeconds: 600,
      },
      (paced) => hub.hold(paced),
    );
    const name = fc.oneof(fc.constantFrom(...NAMES, ...PATHS), fc.string({ maxLength: 12 }));
    const value = fc.oneof(
      name.map((n) => JSON.stringify(n)),
      name.map((n) => JSON.stringify([n, {}])),
      fc
        .tuple(fc.constantFrom(...FIELDS), fc.array(name, { minLength: 1, maxLength: 3 }))
        .map(([f, ns]) => JSON.stringify({ [f]: ns })),
    );
    const entry = fc.oneof(
      fc.tuple(fc.constantFrom(...FIELDS), value).map(([k, v]) => `${k}=${v}`),
      value.map((v) => `matrix=${v}`),
      fc
        .tuple(fc.constantFrom("__proto__", "constructor", "prototype", "cost"), name)
        .map(([k, n]) => `${k}.x=${JSON.stringify(n)}`),
    );
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 4 }), async (set) => {
        const r = await registry.start({ scenario: "default", duration: "1us", set });
        if ("id" in r) {
          accepted++;
          // Accepted: every plugin named, at every point, is a catalogue name.
          const rec = registry.get(r.id)!;
          for (const u of pluginUses(parseScenario(rec.scenario)))
            expect(catalogue.plugins.has(u.name)).toBe(true);
          await registry.stopAll();
        }
        expect(loads).toBe(loadsAtStart);
        expect(existsSync(MARKER)).toBe(false);
        expect((globalThis as { sun4vMarkerImports?: number }).sun4vMarkerImports ?? 0).toBe(0);
        expect(({} as Record<string, unknown>).x).toBeUndefined();
      }),
      { numRuns: 150 },
    );
    // The generator reaches both outcomes.
    expect(accepted).toBeGreaterThan(0);
  }, 120_000);
});
