/**
 * mix: a different workload per guest. Guest domains take `profiles` in turn by id: the i-th
 * guest of the machine (in id order, counting every guest, whether or not the mix runs on it)
 * runs profile i mod n. So a guest's profile depends only on the machine, not on boot order.
 */

import {
  definePlugin,
  type Plugin,
  parseWithSchema,
  type Static,
  type TSchema,
  Type,
  type Workload,
} from "../../core/index.ts";
import randomIo, { randomIoWorkload } from "./random-io.ts";
import requestResponse, { requestResponseWorkload } from "./request-response.ts";
import stream, { streamWorkload } from "./stream.ts";

const options = Type.Object(
  {
    profiles: Type.Array(
      Type.Object(
        {
          workload: Type.Union([
            Type.Literal("stream"),
            Type.Literal("request-response"),
            Type.Literal("random-io"),
          ]),
          options: Type.Record(Type.String(), Type.Unknown(), {
            default: {},
            description: "options of that workload plugin",
          }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, description: "guest i (by id among all guests) runs profile i mod n" },
    ),
  },
  { additionalProperties: false },
);

type Profile = Static<typeof options>["profiles"][number];

/** Validates `raw` with the sibling plugin's own schema and builds that workload. */
function build<O extends TSchema>(
  plugin: Plugin<"workload", O>,
  make: (o: Static<O>) => Workload,
  raw: unknown,
  where: string,
): Workload {
  return make(parseWithSchema(plugin.options!, raw, where) as Static<O>);
}

function workloadOf(p: Profile, where: string): Workload {
  switch (p.workload) {
    case "stream":
      return build(stream, streamWorkload, p.options, where);
    case "request-response":
      return build(requestResponse, requestResponseWorkload, p.options, where);
    case "random-io":
      return build(randomIo, randomIoWorkload, p.options, where);
  }
}

export default definePlugin({
  name: "mix",
  kind: "workload",
  version: "1.0.0",
  description:
    "A multi-guest mix: guest i runs profile i mod n (stream, request-response, random-io)",
  options,
  setup(ctx, o): Workload {
    const workloads = o.profiles.map((p, i) =>
      workloadOf(p, `plugin "${ctx.name}" option /profiles/${i}/options`),
    );
    return {
      start(env) {
        const rank = env.platform.guests.findIndex((g) => g.id === env.guest.id);
        workloads[rank % workloads.length]!.start(env);
      },
    };
  },
});
