/**
 * alloc-pattern: DVMA allocation patterns played through the guest's DMA API on its vCPUs
 * (patterns.ts, play-ops.ts), to see what an allocator does under them. `comb` is the pattern
 * behind iova.c's linear search (long-lived mappings combed with freed ones, a long-lived one
 * expiring high up, then a request larger than the holes); `mix` draws long- and short-lived
 * mappings of weighted sizes (some above the 32 pages the rcache holds), some from a 32-bit
 * device, with per-vCPU bursts. Reports the map latency ("map"), the allocator's work per call
 * and its map at the worst moment ("alloc.*").
 */

import { definePlugin, type Static, Type, type Workload } from "../../core/index.ts";
import { combPattern, mixPattern } from "./patterns.ts";
import { playOps, type TimedOp } from "./play-ops.ts";

const options = Type.Object(
  {
    pattern: Type.Union([Type.Literal("comb"), Type.Literal("mix")], { default: "comb" }),
    vcpus: Type.Integer({
      minimum: 0,
      maximum: 256,
      default: 0,
      description: "vCPUs issuing maps (0: every vCPU of the guest)",
    }),
    gapNs: Type.Integer({
      minimum: 1,
      default: 2000,
      description: "comb: time between consecutive ops; mix: between a vCPU's maps (assumed)",
    }),
    stallUs: Type.Number({
      exclusiveMinimum: 0,
      default: 50,
      description: "a map taking longer than this (µs) counts in alloc.stalls (assumed threshold)",
    }),
    limitPages: Type.Integer({
      minimum: 0,
      default: 0,
      description: "the page a 32-bit-limited device cannot reach (0: half the window, assumed)",
    }),
    comb: Type.Object(
      {
        live: Type.Integer({ minimum: 0, default: 4096, description: "long-lived teeth (n)" }),
        toothPages: Type.Integer({ minimum: 1, default: 1 }),
        bigPages: Type.Integer({
          minimum: 1,
          default: 4,
          description: "the request larger than the holes",
        }),
        dma32: Type.Boolean({
          default: false,
          description: "every comb map limited below limitPages",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    mix: Type.Object(
      {
        longLivedShare: Type.Number({ minimum: 0, maximum: 1, default: 0.2 }),
        longLifeNs: Type.Integer({ minimum: 0, default: 1_000_000 }),
        shortLifeNs: Type.Integer({ minimum: 0, default: 20_000 }),
        sizes: Type.Array(
          Type.Object(
            { pages: Type.Integer({ minimum: 1 }), weight: Type.Number({ minimum: 0 }) },
            { additionalProperties: false },
          ),
          {
            minItems: 1,
            default: [
              { pages: 1, weight: 60 },
              { pages: 2, weight: 15 },
              { pages: 4, weight: 10 },
              { pages: 16, weight: 8 },
              { pages: 64, weight: 5 },
              { pages: 256, weight: 2 },
            ],
            description: "request sizes in 8 KiB pages and their weights (assumed mix)",
          },
        ),
        dma32Share: Type.Number({ minimum: 0, maximum: 1, default: 0.25 }),
        burstEvery: Type.Integer({ minimum: 0, default: 0, description: "0: no bursts" }),
        burstSize: Type.Integer({ minimum: 1, default: 16 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type AllocPatternOptions = Static<typeof options>;

export default definePlugin({
  name: "alloc-pattern",
  kind: "workload",
  version: "1.0.0",
  description: "DVMA allocation patterns (comb, long/short-lived mix) on the guest's vCPUs",
  options,
  setup(ctx, o): Workload {
    const ends: (() => void)[] = [];
    ctx.hooks.hook("end", () => {
      for (const end of ends) end();
    });
    return {
      start(env) {
        const cpus =
          o.vcpus === 0 ? env.guest.cpu.strands : Math.min(o.vcpus, env.guest.cpu.strands);
        const window = env.platform.hv.iommus.get(env.io.device.port.devhandle)!.windowPages;
        const limit = o.limitPages === 0 ? window >>> 1 : o.limitPages;
        let ops: TimedOp[];
        if (o.pattern === "comb") {
          const c = o.comb;
          ops = combPattern({
            live: c.live,
            cycles: c.live,
            toothPages: c.toothPages,
            bigPages: c.bigPages,
            cpus,
          }).map((op, k) => ({
            ...op,
            atNs: k * o.gapNs,
            ...(c.dma32 && op.op === "map" ? { limit } : {}),
          }));
        } else {
          ops = mixPattern(
            { ...o.mix, cpus, gapNs: o.gapNs, untilNs: env.untilNs, limitPages: limit },
            env.rng,
          );
        }
        ends.push(playOps(env, ops, "alloc-pattern", o.stallUs * 1e3));
      },
    };
  },
});
