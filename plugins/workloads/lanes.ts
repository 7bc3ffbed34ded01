import type { Proc, Workload, WorkloadEnv } from "../../core/index.ts";

/** After a failed request, wait this long before the next (a failure may take no time). */
export const BACKOFF_NS = 10_000;

/**
 * A workload of `count` identical loops per guest ("lanes": in-flight requests), each repeating
 * `step` while the run lasts and its guest is alive. Not a plugin: the workloads share it.
 */
export function laneWorkload(
  name: string,
  count: number,
  step: (env: WorkloadEnv, cpu: number) => Proc<void>,
): Workload {
  function* lane(env: WorkloadEnv, i: number): Proc<void> {
    const cpu = i % env.guest.cpu.strands;
    while (env.sim.now < env.untilNs && env.platform.hv.domains[env.guest.id]!.alive)
      yield* step(env, cpu);
  }
  return {
    start(env) {
      for (let i = 0; i < count; i++) env.sim.spawn(lane(env, i), `${name}:${env.guest.name}:${i}`);
    },
  };
}
