import type { EventBus } from "../../model/events/bus.ts";
import { type AnyPlugin, definePlugin } from "../plugin/define.ts";
import type { RunInfo } from "./run-info.ts";

/** One run's figures over simulated time, one value per sampler interval. */
export interface RunSeries {
  path: string;
  params: Record<string, unknown>;
  /** End of each interval, in simulated ms. */
  tMs: number[];
  /** I/O completed in each interval, Gb/s. */
  gbps: number[];
  /** Mean latency of the I/O completed in each interval, µs (null: none completed). */
  latencyUs: (number | null)[];
  /** CPU utilisation per domain (0..1) over each interval, by domain name. */
  cpu: Record<string, number[]>;
}

interface Raw {
  info: RunInfo;
  sampleNs: number[];
  cpu: Record<string, number[]>;
  io: number[]; // flat triples: t, bytes, latencyNs
}

/**
 * Collects throughput, latency and CPU per domain over simulated time for the HTML report, from
 * `io.done` and the sampler's `metric` events (sampler.ts). It only observes, so a run's figures
 * are the same with or without it. Its `plugin` is the observer to register in each run.
 */
export class SeriesCollector {
  private readonly raw: Raw[] = [];

  /** The observer that records the run it is set up in. */
  readonly plugin: AnyPlugin = definePlugin({
    name: "series",
    kind: "observer",
    version: "1.0.0",
    description: "throughput, latency and CPU per domain over simulated time, for the HTML report",
    setup: (ctx) => {
      if (ctx.run !== undefined) this.record(ctx.bus, ctx.run.info);
    },
  });

  private record(bus: EventBus, info: RunInfo): void {
    const r: Raw = { info, sampleNs: [], cpu: {}, io: [] };
    this.raw.push(r);
    bus.on("metric", (e) => {
      if (e.name !== "cpu") return;
      const name = info.domainNames[e.domain] ?? `domain ${e.domain}`;
      (r.cpu[name] ??= []).push(e.value);
      if (r.sampleNs.at(-1) !== e.t) r.sampleNs.push(e.t);
    });
    bus.on("io.done", (e) => {
      r.io.push(e.t, e.bytes, e.latencyNs);
    });
  }

  /** Every run's series, binned by the sampler's intervals. */
  series(): RunSeries[] {
    return this.raw.map(({ info, sampleNs, cpu, io }) => {
      const n = sampleNs.length;
      const bytes = new Array<number>(n).fill(0);
      const lat = new Array<number>(n).fill(0);
      const count = new Array<number>(n).fill(0);
      let bin = 0;
      for (let k = 0; k < io.length; k += 3) {
        while (bin < n && io[k]! > sampleNs[bin]!) bin++;
        if (bin === n) break; // after the last sample
        bytes[bin]! += io[k + 1]!;
        lat[bin]! += io[k + 2]!;
        count[bin]!++;
      }
      return {
        path: info.path,
        params: info.params,
        tMs: sampleNs.map((t) => t / 1e6),
        gbps: bytes.map((b, i) => (b * 8) / (sampleNs[i]! - (sampleNs[i - 1] ?? 0))),
        latencyUs: lat.map((l, i) => (count[i] ? l / count[i]! / 1000 : null)),
        cpu,
      };
    });
  }
}
