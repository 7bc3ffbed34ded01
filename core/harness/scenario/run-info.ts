import type { Simulator } from "../../model/sim/kernel.ts";

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

/** The run a plugin is set up in (`ctx.run`): which one, its clock, and when it ends. */
export interface RunContext {
  readonly info: RunInfo;
  readonly sim: Simulator;
  /** The simulated time the run ends at (ns). */
  readonly untilNs: number;
}
