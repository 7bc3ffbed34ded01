/**
 * The event bus: synchronous, in registration order, free when nobody listens.
 *
 * Emitters check `bus.wants(type)` before building an event's fields, so an unobserved kind
 * costs one Map lookup and no allocation:
 *
 *   if (bus.wants("hcall")) bus.emit("hcall", { domain, fn, status, count, durNs });
 *
 * A throwing listener never stops other listeners or the simulation: the error is caught,
 * counted, and reported once as a `plugin.error` event (an error while reporting is only
 * counted, so a listener that always throws cannot loop).
 */

import type { EventFields, EventOf, EventType, SimEvent } from "./schemas.ts";

type AnyListener = (e: SimEvent) => void;

interface Entry {
  fn: AnyListener;
  owner: string;
}

const NONE: readonly Entry[] = Object.freeze([]);

/** State shared by a bus and its scoped views. */
class BusCore {
  /** Per kind: every listener an event of that kind reaches (typed and "*"), in registration order. */
  readonly dispatch = new Map<string, readonly Entry[]>();
  /** The "*" listeners, in registration order. */
  wild: readonly Entry[] = NONE;
  errors = 0;
  lastError: unknown = undefined;
  reporting = false;

  constructor(readonly clock: () => number) {}
}

export class EventBus {
  private core: BusCore;
  private owner: string;

  /** `clock` returns the current virtual time in integer ns (the bus never reads a wall clock). */
  constructor(clock: () => number) {
    this.core = new BusCore(clock);
    this.owner = "listener";
  }

  /**
   * A view of the same bus whose listeners are reported under `owner` when they throw (the
   * plugin host hands each plugin `bus.scoped(pluginName)`).
   */
  scoped(owner: string): EventBus {
    const view = Object.create(EventBus.prototype) as EventBus;
    view.core = this.core;
    view.owner = owner;
    return view;
  }

  /** Calls `fn` for every event of kind `type` ("*" = every event). Returns the unsubscribe function. */
  on<K extends EventType>(type: K, fn: (e: EventOf<K>) => void): () => void;
  on(type: "*", fn: (e: SimEvent) => void): () => void;
  on(type: string, fn: (e: never) => void): () => void {
    if (typeof fn !== "function")
      throw new TypeError(`bus.on(${JSON.stringify(type)}): listener must be a function`);
    const core = this.core;
    const entry: Entry = { fn: fn as AnyListener, owner: this.owner };
    if (type === "*") {
      core.wild = [...core.wild, entry];
      for (const [k, list] of core.dispatch) core.dispatch.set(k, [...list, entry]);
    } else {
      core.dispatch.set(type, [...(core.dispatch.get(type) ?? core.wild), entry]);
    }
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      if (type === "*") core.wild = core.wild.filter((x) => x !== entry);
      for (const [k, list] of core.dispatch) {
        if (list.includes(entry))
          core.dispatch.set(
            k,
            list.filter((x) => x !== entry),
          );
      }
    };
  }

  /** O(1): true if an event of kind `type` would reach at least one listener. Check before building fields. */
  wants(type: EventType): boolean {
    return (this.core.dispatch.get(type) ?? this.core.wild).length > 0;
  }

  /**
   * Builds `{ type, t: clock(), ...fields }` once and hands it to each listener synchronously,
   * in registration order. Listeners must not mutate it. Does nothing if nobody listens.
   */
  emit<K extends EventType>(type: K, fields: EventFields<K>): void {
    const core = this.core;
    const list = core.dispatch.get(type) ?? core.wild;
    if (list.length === 0) return;
    const e = { type, t: core.clock(), ...fields } as SimEvent;
    for (let i = 0; i < list.length; i++) {
      const entry = list[i];
      try {
        entry.fn(e);
      } catch (err) {
        this.fail(entry, type, err);
      }
    }
  }

  private fail(entry: Entry, type: string, err: unknown): void {
    const core = this.core;
    core.errors++;
    core.lastError = err;
    if (core.reporting) return;
    core.reporting = true;
    try {
      this.emit("plugin.error", {
        plugin: entry.owner,
        hook: `on ${type}`,
        message: err instanceof Error ? err.message : String(err),
      });
    } finally {
      core.reporting = false;
    }
  }

  /**
   * Listeners an event of kind `type` reaches (typed plus "*"); `"*"` counts the wildcard
   * listeners only; no argument counts every registered listener.
   */
  listenerCount(type?: EventType | "*"): number {
    const core = this.core;
    if (type === "*") return core.wild.length;
    if (type !== undefined) return (core.dispatch.get(type) ?? core.wild).length;
    const all = new Set<Entry>(core.wild);
    for (const list of core.dispatch.values()) for (const e of list) all.add(e);
    return all.size;
  }

  /** How many times a listener has thrown since the bus was made. */
  get listenerErrors(): number {
    return this.core.errors;
  }

  /** The last value a listener threw (for diagnostics), or undefined. */
  get lastListenerError(): unknown {
    return this.core.lastError;
  }

  /** The bus's clock: current virtual time in ns. */
  now(): number {
    return this.core.clock();
  }
}
