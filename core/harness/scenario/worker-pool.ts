import type { ScenarioSpec } from "./spec.ts";
// Types only: the worker module installs a message handler wherever it is evaluated.
import type { ToWorker } from "./worker.ts";

/**
 * The sweep workers of this process (see parallel.ts): started on demand, and kept idle after a
 * sweep that went well, not holding the process open, for the next sweep (which they join at
 * once, having paid their start-up).
 */

const WORKER_URL = new URL("./worker.ts", import.meta.url);

/** Idle workers kept between sweeps; at most this many. */
const idle: Worker[] = [];
const IDLE_KEPT = 8;
/** What a worker's end means to the sweep that uses it (nothing while idle). */
export const closed = new WeakMap<Worker, () => void>();
/** Workers that have ended (one may end before its sweep listens). */
export const exited = new WeakSet<Worker>();

/** Idle workers kept for the next sweep (tests read it). */
export function keptWorkers(): number {
  return idle.length;
}

let started = 0;
/** Workers started in this process so far (tests read it). */
export function startedWorkers(): number {
  return started;
}

/** Up to `n` kept workers, told to load `spec`, holding the process open while they work. */
export function takeKept(spec: ScenarioSpec, n: number): Worker[] {
  const out = idle.splice(Math.max(0, idle.length - n));
  for (const w of out) {
    w.ref();
    w.postMessage({ type: "load", spec } satisfies ToWorker);
  }
  return out;
}

/** A new worker, told to load `spec`, holding the process open while it works. */
export function newWorker(spec: ScenarioSpec): Worker {
  const w = new Worker(WORKER_URL);
  started++;
  w.addEventListener("close", () => {
    exited.add(w);
    const i = idle.indexOf(w);
    if (i >= 0) idle.splice(i, 1);
    closed.get(w)?.();
  });
  w.postMessage({ type: "load", spec } satisfies ToWorker);
  return w;
}

/** Keeps `w` idle for the next sweep (or ends it when enough are kept). */
export function keepWorker(w: Worker): void {
  closed.delete(w);
  w.onmessage = null;
  w.onerror = null;
  if (idle.length >= IDLE_KEPT) dropWorker(w);
  else {
    w.unref();
    idle.push(w);
  }
}

export function dropWorker(w: Worker): void {
  closed.delete(w);
  w.terminate();
}
