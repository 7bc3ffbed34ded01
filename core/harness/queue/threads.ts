import type { PathMetrics } from "../report/report.ts";
import type { ScenarioSpec } from "../scenario/spec.ts";
import type { FromWorker, ToWorker } from "../scenario/worker.ts";
import { INPUT_PREFIX, PLUGIN_PREFIX, type PointProgress } from "./job.ts";

/**
 * Threads that run single points for a queue worker, speaking the parallel runner's worker
 * protocol (scenario/worker.ts): a point runs off the main thread, so the main thread stays free
 * to renew the job's lock in Redis however long the point takes.
 */

const WORKER_URL = new URL("../scenario/worker.ts", import.meta.url);

/** A run threw in the thread: `input` when it was bad user input (an InputError there). */
export class ThreadRunError extends Error {
  constructor(
    message: string,
    readonly input: boolean,
    /** The plugin and hook that threw, when a plugin did. */
    readonly plugin?: [string, string],
  ) {
    super(message);
    this.name = "ThreadRunError";
  }
}

/**
 * Why a point fails for good, or undefined when another try may do better. A run that threw (bad
 * input, a plugin, a bug in the model) throws the same on every try: same seed, same throw. Only
 * a thread that died (ran out of memory, say) is worth another try.
 */
export function finalReason(e: unknown): string | undefined {
  if (!(e instanceof ThreadRunError)) return undefined;
  if (e.input) return `${INPUT_PREFIX}${e.message}`;
  if (e.plugin) return `${PLUGIN_PREFIX}${e.message}`;
  return e.message;
}

interface Pending {
  index: number;
  resolve: (r: { metrics: PathMetrics; events: number }) => void;
  reject: (e: Error) => void;
  progress: (p: PointProgress) => void;
}

class RunThread {
  private readonly w = new Worker(WORKER_URL);
  /** The spec the thread has loaded (JSON), so a thread reloads only when the sweep changes. */
  private loaded?: string;
  private pending?: Pending;
  dead = false;

  constructor() {
    this.w.onmessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      const p = this.pending;
      if (p === undefined || m.index !== p.index) return;
      if (m.type === "progress")
        return p.progress({ simulatedNs: m.simulatedNs, events: m.events });
      this.pending = undefined;
      if (m.type === "error") p.reject(new ThreadRunError(m.message, m.input, m.plugin));
      else p.resolve({ metrics: m.metrics, events: m.events });
    };
    const died = (why: string) => {
      this.dead = true;
      const p = this.pending;
      this.pending = undefined;
      p?.reject(new Error(why));
    };
    this.w.onerror = (e) => died(e.message || "the run thread crashed");
    this.w.addEventListener("close", () => died("the run thread exited"));
  }

  run(
    spec: ScenarioSpec,
    runs: number,
    index: number,
    progress: (p: PointProgress) => void,
  ): Promise<{ metrics: PathMetrics; events: number }> {
    const key = JSON.stringify(spec);
    if (key !== this.loaded) {
      this.w.postMessage({ type: "load", spec } satisfies ToWorker);
      this.loaded = key;
    }
    return new Promise((resolve, reject) => {
      this.pending = { index, resolve, reject, progress };
      this.w.postMessage({ type: "run", index, total: runs } satisfies ToWorker);
    });
  }

  terminate(): void {
    this.w.terminate();
  }
}

/** `size` threads; `run` takes a free one (callers never run more than `size` at once). */
export class ThreadPool {
  private readonly free: RunThread[] = [];

  constructor(size: number) {
    for (let i = 0; i < size; i++) this.free.push(new RunThread());
  }

  async run(
    spec: ScenarioSpec,
    runs: number,
    index: number,
    progress: (p: PointProgress) => void,
  ): Promise<{ metrics: PathMetrics; events: number }> {
    const t = this.free.pop() ?? new RunThread();
    try {
      return await t.run(spec, runs, index, progress);
    } finally {
      if (t.dead) t.terminate();
      else this.free.push(t);
    }
  }

  close(): void {
    for (const t of this.free.splice(0)) t.terminate();
  }
}
