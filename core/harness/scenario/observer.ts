import type { Platform } from "../../model/domains/platform.ts";
import type { EventBus } from "../../model/events/bus.ts";
import type { Simulator } from "../../model/sim/kernel.ts";
import type { PathMetrics } from "../report/report.ts";

/** What identifies one run: a scenario, one matrix point, one I/O path. */
export interface RunInfo {
  scenario: string;
  path: string;
  params: Record<string, unknown>;
  domainNames: string[];
  /** Position of this run in the scenario's runs (0-based) and how many there are. */
  index: number;
  total: number;
}

/**
 * Watches runs: what an `observer` plugin provides (trace writers, the live feed). Every
 * callback is optional and synchronous; an observer never drives the simulation.
 */
export interface RunObserver {
  /** A run is about to boot: subscribe to its bus here to see every event. */
  onRun?(bus: EventBus, info: RunInfo, sim: Simulator): void;
  /** The run's machine has booted (the clock has not moved). */
  onBoot?(platform: Platform, info: RunInfo): void;
  /** The run ended with these metrics. */
  onResult?(info: RunInfo, metrics: PathMetrics): void;
}
