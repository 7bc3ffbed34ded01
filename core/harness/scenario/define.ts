import { type Static, Type } from "@sinclair/typebox";
import { CostModelSchema } from "../../model/machine/cost-model.ts";
import { type MachineDescription, MachineSchema } from "../../model/machine/description.ts";
import { parseMachine } from "../../model/machine/parse.ts";

/**
 * A scenario: a machine, the plugins that run on it, the I/O paths to compare, and optionally a
 * matrix of parameters to sweep. Written literally in a `scenarios/*.ts` file with
 * `defineScenario`, validated (with field paths in every error) before anything runs.
 */

/** A plugin by built-in name or file path, optionally with options: "first-fit" or ["quota", { maxPages: 64 }]. */
export const PluginRefSchema = Type.Union(
  [
    Type.String({ minLength: 1 }),
    Type.Tuple([Type.String({ minLength: 1 }), Type.Record(Type.String(), Type.Unknown())]),
  ],
  { description: "a plugin name or path, or [name, options]" },
);
export type PluginRef = Static<typeof PluginRefSchema>;

/**
 * Durations: a number > 0 with a unit: "500us", "20ms", "1s" (a bare number is refused: which
 * unit?). It must come to a whole number of nanoseconds (no more decimals than the unit has
 * below 1 ns: "0.5ns" would round) and at most 15 digits of them, so a double holds it exactly.
 */
export const DurationSchema = Type.String({
  pattern:
    "^(?=[0-9.]*[1-9])([0-9]{1,15}ns|[0-9]{1,12}(\\.[0-9]{1,3})?(us|µs)|[0-9]{1,9}(\\.[0-9]{1,6})?ms|[0-9]{1,6}(\\.[0-9]{1,9})?s)$",
  description:
    'a time > 0 with a unit: ns, us, ms or s, in whole nanoseconds, e.g. "20ms", "500us", "1s"',
});

export const WorkloadSpecSchema = Type.Object(
  {
    plugin: PluginRefSchema,
    /** Guests that run it ("all" or names). */
    guests: Type.Union([Type.Literal("all"), Type.Array(Type.String(), { minItems: 1 })], {
      default: "all",
    }),
    /** Device kind it drives on each guest (e.g. "nic", "disk"); default: the guest's first device. */
    device: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const FaultSpecSchema = Type.Union([
  Type.Object(
    { kind: Type.Literal("kill"), at: DurationSchema, domain: Type.String() },
    { additionalProperties: false },
  ),
  Type.Object(
    { kind: Type.Literal("broker-restart"), at: DurationSchema, downFor: DurationSchema },
    { additionalProperties: false },
  ),
]);

export const ReferenceSchema = Type.Object(
  {
    path: Type.String({ description: "I/O path name, e.g. direct" }),
    metric: Type.String({
      pattern: "^[A-Za-z0-9.]+(/[A-Za-z0-9.]+)*$",
      description:
        'a path metric, "/" between levels: throughputGbps, latencyUs/p50, extra/rtt.p50Us',
    }),
    value: Type.Number(),
    /** Relative difference still counted as a match. */
    tolerance: Type.Number({ exclusiveMinimum: 0, default: 0.1 }),
    /** Matrix parameters of the point to compare (all points when empty). */
    point: Type.Record(Type.String(), Type.Unknown(), { default: {} }),
    source: Type.String({ minLength: 1, description: "where the figure was published" }),
  },
  { additionalProperties: false },
);

export const GuestDmaSchema = Type.Object(
  {
    acquire: Type.Union([Type.Literal("lease"), Type.Literal("per-map")], { default: "lease" }),
    leasePages: Type.Integer({ minimum: 1, default: 512 }),
    unmap: Type.Union([Type.Literal("strict"), Type.Literal("deferred")], { default: "strict" }),
    deferredMaxEntries: Type.Integer({ minimum: 1, default: 250 }),
    deferredMaxNs: Type.Integer({ minimum: 1, default: 10_000_000 }),
    leaseIdleNs: Type.Integer({ minimum: 0, default: 0 }),
  },
  { additionalProperties: false, default: {} },
);

export const ScenarioSchema = Type.Object(
  {
    name: Type.String({ pattern: "^[a-z][a-z0-9-]*$" }),
    description: Type.String({ default: "" }),
    seed: Type.Integer({ minimum: 0, maximum: 0xffffffff, default: 1 }),
    duration: DurationSchema,
    machine: MachineSchema,
    cost: Type.Partial(CostModelSchema, { default: {} }),
    policies: Type.Object(
      {
        global: Type.Union(PluginRefSchema.anyOf, {
          default: "first-fit",
          description: "the control domain's global policy",
        }),
        local: Type.Union(PluginRefSchema.anyOf, {
          default: "bitmap-next-fit",
          description: "each guest's local policy",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Device plugin per device kind named in the machine description (default: the kind itself). */
    devices: Type.Record(Type.String(), PluginRefSchema, { default: {} }),
    paths: Type.Array(PluginRefSchema, { minItems: 1, default: ["direct"] }),
    workloads: Type.Array(WorkloadSpecSchema, { default: [] }),
    guestDma: GuestDmaSchema,
    ldc: Type.Object(
      {
        queueEntries: Type.Integer({ minimum: 1, maximum: 65536, default: 128 }),
        lossRate: Type.Number({ minimum: 0, maximum: 1, default: 0 }),
      },
      { additionalProperties: false, default: {} },
    ),
    faults: Type.Array(FaultSpecSchema, { default: [] }),
    /** Parameters to sweep: dotted paths into this scenario -> values; every combination runs. */
    matrix: Type.Record(Type.String(), Type.Array(Type.Unknown(), { minItems: 1 }), {
      default: {},
    }),
    /** Extra metrics shown as table columns: "/" paths into a path's metrics, e.g. extra/nic.gbps. */
    columns: Type.Array(Type.String({ pattern: "^[A-Za-z0-9.]+(/[A-Za-z0-9.]+)*$" }), {
      default: [],
    }),
    /** Metrics also shown as one table per metric: a row per matrix point, a column per path. */
    pivot: Type.Array(Type.String({ pattern: "^[A-Za-z0-9.]+(/[A-Za-z0-9.]+)*$" }), {
      default: [],
    }),
    /** Published figures the run is compared with (printed side by side, checked by tests). */
    reference: Type.Array(ReferenceSchema, { default: [] }),
  },
  { additionalProperties: false },
);

export type Scenario = Static<typeof ScenarioSchema>;
/** What a scenario file may write: every field with a default may be left out, at any depth. */
type Loose<T> = T extends string | number | boolean
  ? T
  : T extends readonly [string, Record<string, unknown>]
    ? T
    : T extends readonly (infer U)[]
      ? Loose<U>[]
      : T extends object
        ? { [K in keyof T]?: Loose<T[K]> }
        : T;

export type ScenarioInput = Loose<Omit<Scenario, "machine" | "name" | "duration">> & {
  name: string;
  duration: number | string;
  machine: unknown;
};

/** Identity helper (citty style): keeps the literal and marks the file as a scenario. */
export function defineScenario<const S extends ScenarioInput>(spec: S): S {
  return spec;
}

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9 };

/** Nanoseconds of a duration value (already schema-checked). */
export function durationNs(d: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s)$/.exec(d)!;
  return Math.round(Number(m[1]) * UNIT_NS[m[2]!]!);
}

const machines = new WeakMap<Scenario, MachineDescription>();
/** Parsed machines by their description's JSON: a sweep's points mostly share one machine. */
const machinesByText = new Map<string, MachineDescription>();
const MACHINES_KEPT = 64;

/**
 * The scenario's machine, validated and expanded once per distinct description (matrix points
 * over anything else share it) and frozen, so every run shares it. @throws InputError
 */
export function machineOf(scn: Scenario): MachineDescription {
  let md = machines.get(scn);
  if (md === undefined) {
    const text = JSON.stringify(scn.machine);
    md = machinesByText.get(text);
    if (md === undefined) {
      md = deepFreeze(parseMachine(scn.machine, "scenario /machine"));
      if (machinesByText.size >= MACHINES_KEPT)
        machinesByText.delete(machinesByText.keys().next().value!);
      machinesByText.set(text, md);
    }
    machines.set(scn, md);
  }
  return md;
}

function deepFreeze<T>(x: T): T {
  if (typeof x === "object" && x !== null && !Object.isFrozen(x)) {
    Object.freeze(x);
    for (const v of Object.values(x)) deepFreeze(v);
  }
  return x;
}
