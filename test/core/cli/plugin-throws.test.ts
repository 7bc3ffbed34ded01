import { describe, expect, test } from "bun:test";
import { EXIT_PLUGIN_ERRORS } from "../../../core/harness/scenario/failures.ts";
import { cli } from "../../helpers/cli.ts";

const run = (file: string, ...set: string[]) =>
  cli(
    "default",
    "--plugin",
    `test/fixtures/throwing/${file}.ts`,
    ...set.flatMap((s) => ["--set", s]),
    "--duration",
    "1ms",
    "--quiet",
    "--workers",
    "1",
  );
const workload = (when: string) =>
  `workloads=[{"plugin":["throwing-workload",{"when":"${when}"}],"device":"nic"}]`;

describe("a device, path or workload plugin that throws is named, with its hook", () => {
  const cases: [string, () => ReturnType<typeof cli>, RegExp][] = [
    [
      "workload start()",
      () => run("throwing-workload", workload("start"), 'paths=["direct"]'),
      /\[plugin throwing-workload\] start: cannot read the ring\n$/,
    ],
    [
      "a process the workload spawned",
      () => run("throwing-workload", workload("run"), 'paths=["direct"]'),
      /process "throwing-workload" failed at t=\d+ns: \[plugin throwing-workload\] start: descriptor index out of range\n$/,
    ],
    [
      "device factory",
      () => run("throwing-device", 'devices={"nic":"throwing-device"}', 'paths=["direct"]'),
      /\[plugin throwing-device\] device: no such BAR\n$/,
    ],
    [
      "device execute(), resumed by an event",
      () => run("throwing-execute", 'devices={"nic":"throwing-execute"}', 'paths=["direct"]'),
      /process "[^"]+" failed at t=\d+ns: \[plugin throwing-execute\] execute: completion queue overflow\n$/,
    ],
    [
      "path submit()",
      () => run("throwing-path", 'paths=["throwing-path"]'),
      /\[plugin throwing-path\] submit: no route to the device\n$/,
    ],
  ];
  for (const [what, go, line] of cases)
    test(`${what}: one line naming plugin and hook, the plugin-error exit status`, async () => {
      const r = await go();
      expect(r.err).toMatch(/^run failed: run 1\/1 \(path [\w-]+\): /);
      expect(r.err).toMatch(line);
      expect(r.err.split("\n")).toHaveLength(2); // one line: no stack trace
      expect(r.code).toBe(EXIT_PLUGIN_ERRORS);
    });
});
