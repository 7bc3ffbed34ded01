import type { Proc, Workload, WorkloadEnv } from "../../core/index.ts";

/** After a failed request, wait this long before the next (a failure may take no time). */
export const BACKOFF_NS = 10_000;

/** True while the run lasts and the workload's guest is alive: a lane issues I/O only then. */
export const running = (env: WorkloadEnv): boolean =>
  env.sim.now < env.untilNs && env.platform.hv.domains[env.guest.id]!.alive;

/**
 * A workload of `count` loops per guest ("lanes": in-flight requests), each `lane(env, cpu)`
 * on vCPU `cpu`, repeating its requests while `running(env)`. Not a plugin: workloads share it.
 */
export function lanes(
  name: string,
  count: number,
  lane: (env: WorkloadEnv, cpu: number) => Proc<void>,
): Workload {
  return {
    start(env) {
      for (let i = 0; i < count; i++)
        env.sim.spawn(lane(env, i % env.guest.cpu.strands), `${name}:${env.guest.name}:${i}`);
    },
  };
}

/** Lanes that each repeat `step` while the run lasts and its guest is alive. */
export function laneWorkload(
  name: string,
  count: number,
  step: (env: WorkloadEnv, cpu: number) => Proc<void>,
): Workload {
  return lanes(name, count, function* (env, cpu) {
    while (running(env)) yield* step(env, cpu);
  });
}
