import type { Proc } from "./kernel.ts";

// One shared iterator that is finished from the start. `yield* ready(v)` calls its next() once,
// reads done and value at once, and goes on: the fast path of a call that needs no waiting
// costs no generator object and no generator resume. Sharing it is safe because `yield*`
// consumes it before anything else can run.
const DONE = {
  done: true as const,
  value: undefined as unknown,
  next() {
    return this;
  },
  return() {
    return this;
  },
  throw(err: unknown): never {
    throw err;
  },
  [Symbol.iterator]() {
    return this;
  },
};

/**
 * A `Proc` that returns `value` without waiting: for `yield*` only (consumed at once, never
 * kept). Lets a process method take its no-wait path with no generator of its own.
 */
export function ready<T>(value: T): Proc<T> {
  DONE.value = value;
  return DONE as unknown as Proc<T>;
}

/** `p`, or when it is a `ready()` value, a copy of its own holding that value (spawn keeps it). */
export function keepable<T>(p: Proc<T>): Proc<T> {
  return (p as unknown) === DONE ? ({ ...DONE } as unknown as Proc<T>) : p;
}

/**
 * A `Proc` that waits `ns` (> 0) once, then returns `value`: for `yield*` only. One small object
 * that is its own iterator result (read at once by `yield*`), where a generator would cost a
 * generator object, its frame and a result per step.
 */
export function after<T>(ns: number, value: T): Proc<T> {
  return new After(ns, value) as unknown as Proc<T>;
}

class After<T> {
  done = false;
  value: unknown;
  private started = false;

  constructor(
    ns: number,
    private readonly result: T,
  ) {
    this.value = ns;
  }

  next(): this {
    if (this.started) {
      this.done = true;
      this.value = this.result;
    } else this.started = true;
    return this;
  }

  return(value: T): this {
    this.done = true;
    this.value = value;
    return this;
  }

  throw(err: unknown): never {
    throw err;
  }

  [Symbol.iterator](): this {
    return this;
  }
}
