/**
 * GET /metrics: the server's counters in the Prometheus text exposition format (version 0.0.4),
 * written by hand: a handful of series does not need a client library.
 */

import type { FeedHub } from "./hub.ts";
import type { RunRegistry } from "./runs.ts";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Sample = [labels: Record<string, string | number>, value: number];

function family(name: string, type: "counter" | "gauge", help: string, samples: Sample[]): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) {
    const l = Object.entries(labels)
      .map(
        ([k, v]) =>
          `${k}="${String(v).replace(/["\\\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`))}"`,
      )
      .join(",");
    lines.push(`${name}${l === "" ? "" : `{${l}}`} ${value}`);
  }
  return lines.join("\n");
}

export function metricsText(hub: FeedHub, runs: RunRegistry): string {
  const clients = hub.connected;
  const per = (f: (c: (typeof clients)[number]) => number): Sample[] =>
    clients.map((c) => [{ client: c.id, kind: c.kind, lossless: String(c.lossless) }, f(c)]);
  return `${[
    family(
      "live_runs_total",
      "counter",
      "Runs requested over HTTP, by outcome.",
      Object.entries(runs.counts).map(([outcome, n]) => [{ outcome }, n]),
    ),
    family("live_runs_active", "gauge", "Runs in progress.", [[{}, runs.active]]),
    family(
      "live_queued_simulated_seconds",
      "gauge",
      "Simulated time of the runs accepted and not yet finished.",
      [[{}, runs.queued / 1e9]],
    ),
    family("live_feed_items_total", "counter", "Items (events and notices) published.", [
      [{}, hub.lastId],
    ]),
    family("live_clients", "gauge", "Connected feed clients.", [[{}, clients.length]]),
    family(
      "live_client_delivered_total",
      "counter",
      "Items delivered to each connected client.",
      per((c) => c.delivered),
    ),
    family(
      "live_client_dropped_total",
      "counter",
      "Events dropped for each connected client (its queue was full).",
      per((c) => c.droppedTotal),
    ),
    family(
      "live_client_queue_depth",
      "gauge",
      "Events waiting in each connected client's queue.",
      per((c) => c.size),
    ),
  ].join("\n")}\n`;
}
