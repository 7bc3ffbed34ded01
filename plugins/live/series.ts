/**
 * A run's chart data, by virtual time: throughput and mean latency from `io.done`, and the
 * control domain's CPU use per bucket. At most MAX_POINTS buckets: when a run outgrows them,
 * neighbours merge and the bucket doubles, so memory stays fixed however long the run.
 */

import type { DomainCpu } from "../../core/index.ts";

const MAX_POINTS = 240;
const FIRST_BUCKET_NS = 10_000;

export interface SeriesPoint {
  /** End of the bucket, virtual ns. */
  tNs: number;
  gbps: number;
  latencyUs: number;
  /** Control-domain CPU use in the bucket (0..1). */
  controlCpu: number;
}

export class RunSeries {
  bucketNs = FIRST_BUCKET_NS;
  private bytes: number[] = [0];
  private ios: number[] = [0];
  private latSum: number[] = [0];
  /** Control-domain busy ns when each bucket closed (the last bucket is still open). */
  private busyEnd: number[] = [];
  private cpu: Pick<DomainCpu, "busyNs" | "strands"> | undefined;

  attach(cpu: DomainCpu): void {
    this.cpu = cpu;
  }

  /** The run ended: keeps the CPU's last figures, not the CPU (it holds the whole machine). */
  detach(): void {
    if (this.cpu !== undefined) this.cpu = { busyNs: this.cpu.busyNs, strands: this.cpu.strands };
  }

  record(tNs: number, bytes: number, latencyNs: number): void {
    let b = Math.floor(tNs / this.bucketNs);
    while (b >= MAX_POINTS) {
      this.merge();
      b = Math.floor(tNs / this.bucketNs);
    }
    const busy = this.cpu?.busyNs ?? 0;
    while (this.bytes.length <= b) {
      this.busyEnd.push(busy);
      this.bytes.push(0);
      this.ios.push(0);
      this.latSum.push(0);
    }
    this.bytes[b] += bytes;
    this.ios[b]++;
    this.latSum[b] += latencyNs;
  }

  /** Halves the resolution: bucket i becomes buckets 2i and 2i+1 added together. */
  private merge(): void {
    const pairs = <T>(xs: number[], f: (a: number, b: number | undefined) => T): T[] =>
      Array.from({ length: Math.ceil(xs.length / 2) }, (_, i) => f(xs[2 * i]!, xs[2 * i + 1]));
    const add = (a: number, b: number | undefined) => a + (b ?? 0);
    this.bytes = pairs(this.bytes, add);
    this.ios = pairs(this.ios, add);
    this.latSum = pairs(this.latSum, add);
    // A pair closes when its second bucket closed; an unpaired last closed bucket stays open.
    this.busyEnd = this.busyEnd.filter((_, i) => i % 2 === 1);
    this.bucketNs *= 2;
  }

  /** The buckets up to `nowNs` (the last one partial). */
  points(nowNs: number): SeriesPoint[] {
    const out: SeriesPoint[] = [];
    const strands = this.cpu?.strands ?? 1;
    let prevBusy = 0;
    for (let i = 0; i < this.bytes.length; i++) {
      const start = i * this.bucketNs;
      const span = Math.min(this.bucketNs, Math.max(1, nowNs - start));
      const busy = this.busyEnd[i] ?? this.cpu?.busyNs ?? 0;
      const n = this.ios[i]!;
      out.push({
        tNs: start + span,
        gbps: (this.bytes[i]! * 8) / span,
        latencyUs: n > 0 ? this.latSum[i]! / n / 1e3 : 0,
        controlCpu: Math.min(1, (busy - prevBusy) / (strands * span)),
      });
      prevBusy = busy;
    }
    return out;
  }
}
