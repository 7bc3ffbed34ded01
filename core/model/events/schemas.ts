/**
 * Every event kind the simulator emits, as a TypeBox schema of its fields. The bus adds the
 * envelope: `type` (the kind) and `t` (virtual time, integer ns). Schemas validate (tests, the
 * live feed), serialise and document events without hand-written code.
 *
 * Conventions: `domain` is a small integer domain id (0 = control domain); times and
 * durations are integer nanoseconds; page numbers, indices and addresses are integers.
 */

import { type Static, type TObject, type TSchema, Type } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";

const int = (description: string) => Type.Integer({ description });
const str = (description: string) => Type.String({ description });

const domain = Type.Integer({ minimum: 0, description: "domain id (0 = control domain)" });
const devhandle = int("root complex devhandle");
const npages = Type.Integer({ minimum: 0, description: "8 KiB IO pages" });
const ns = (description: string) => Type.Integer({ minimum: 0, description: `${description}, ns` });

const ldcFields = {
  channel: int("LDC channel id"),
  from: int("sending domain"),
  to: int("receiving domain"),
  msg: str("message type, e.g. DVMA_REQ"),
  id: int("request id (same on retries)"),
};

/** Fields of every event kind (without the `type`/`t` envelope). */
export const EventSchemas = {
  /** One hypercall finished. `count` = TTEs mapped/demapped (0 if none). */
  hcall: Type.Object({
    domain,
    fn: str("hypercall name, e.g. pci_iommu_map"),
    status: int("sun4v status (0 = EOK)"),
    count: Type.Integer({ minimum: 0, description: "entries mapped/demapped" }),
    durNs: ns("time in the hypervisor"),
  }),
  "ldc.send": Type.Object(ldcFields),
  "ldc.deliver": Type.Object(ldcFields),
  "ldc.drop": Type.Object({ ...ldcFields, reason: str("why it was dropped") }),
  "ldc.reset": Type.Object({ channel: int("LDC channel id"), reason: str("why it was reset") }),
  "dvma.grant": Type.Object({ domain, devhandle, base: int("first page in the window"), npages }),
  "dvma.nack": Type.Object({ domain, id: int("request id"), reason: str("why it was refused") }),
  "dvma.release": Type.Object({
    domain,
    devhandle,
    base: int("first page in the window"),
    npages,
    reason: str("released, revoked, domain death, ..."),
  }),
  "iommu.map": Type.Object({ domain, devhandle, index: int("IOTSB entry index"), npages }),
  "iommu.demap": Type.Object({ domain, devhandle, index: int("IOTSB entry index"), npages }),
  "iotlb.flush": Type.Object({
    devhandle,
    entries: Type.Integer({ minimum: 0, description: "entries invalidated" }),
  }),
  "dma.done": Type.Object({
    device: str("device name"),
    domain,
    devhandle,
    dvma: int("DVMA address"),
    bytes: Type.Integer({ minimum: 0 }),
    write: Type.Boolean({ description: "true = device writes memory" }),
    durNs: ns("transfer time"),
  }),
  "dma.fault": Type.Object({
    device: str("device name"),
    domain,
    devhandle,
    dvma: int("DVMA address"),
    reason: str("why the IOMMU refused"),
  }),
  "io.done": Type.Object({
    domain,
    path: str("I/O path: direct, service-domain, bare-metal, ..."),
    op: str("read, write, send, recv, ..."),
    bytes: Type.Integer({ minimum: 0 }),
    latencyNs: ns("request latency"),
  }),
  "domain.state": Type.Object({
    domain,
    name: str("domain name"),
    state: str("booting, running, dead, ..."),
  }),
  attack: Type.Object({
    domain,
    attack: str("attack name"),
    blocked: Type.Boolean({ description: "true if isolation held" }),
    detail: str("what happened"),
  }),
  "plugin.error": Type.Object({
    plugin: str("plugin name"),
    hook: str("hook or event"),
    message: str("error message"),
  }),
  metric: Type.Object({
    domain: Type.Integer({
      minimum: -1,
      description: "domain id; -1 = the machine (hypervisor, IOMMUs)",
    }),
    name: str("metric name"),
    value: Type.Number(),
  }),
} as const;

type Schemas = typeof EventSchemas;

/** Every event kind, e.g. `"dma.done"`. */
export type EventType = keyof Schemas;
/** The fields of one kind, as passed to `bus.emit(type, fields)`. */
export type EventFields<K extends EventType> = Static<Schemas[K]>;
/** The common envelope the bus adds. */
export interface EventEnvelope<K extends string = EventType> {
  type: K;
  /** Virtual time of emission, integer ns. */
  t: number;
}
/** One event of kind `K`: envelope and fields. */
export type EventOf<K extends EventType> = EventEnvelope<K> & EventFields<K>;
/** Any event (discriminated by `type`). */
export type SimEvent = { [K in EventType]: EventOf<K> }[EventType];

/** Every kind, in declaration order (stable: trace output and docs rely on it). */
export const EVENT_TYPES = Object.keys(EventSchemas) as EventType[];

function withEnvelope(type: EventType): TObject {
  const fields = EventSchemas[type] as TObject;
  return Type.Object(
    {
      type: Type.Literal(type),
      t: Type.Integer({ minimum: 0, description: "virtual time, ns" }),
      ...fields.properties,
    },
    { additionalProperties: false, $id: `sun4v-dvma/event/${type}` },
  );
}

/** Full event schemas (envelope + fields, no extra keys), by kind. */
export const EventEnvelopeSchemas = Object.fromEntries(
  EVENT_TYPES.map((k) => [k, withEnvelope(k)]),
) as {
  [K in EventType]: TObject;
};

/** One schema for any event: the union of every kind's full schema. */
export const SimEventSchema: TSchema = Type.Union(EVENT_TYPES.map((k) => EventEnvelopeSchemas[k]));

let checks: Map<string, TypeCheck<TSchema>> | undefined;

function checkFor(type: unknown): TypeCheck<TSchema> | undefined {
  if (checks === undefined) {
    // Compiled on first use (about 20 µs per kind), then each check is one generated function.
    checks = new Map(EVENT_TYPES.map((k) => [k, TypeCompiler.Compile(EventEnvelopeSchemas[k])]));
  }
  return typeof type === "string" ? checks.get(type) : undefined;
}

/** True if `e` is a well-formed event of a known kind (envelope included, no extra keys). */
export function validateEvent(e: unknown): e is SimEvent {
  const check = checkFor((e as { type?: unknown } | null)?.type);
  return check?.Check(e) === true;
}

/** Why `e` is not a valid event (empty when it is): `"<path>: <message>"` per problem. */
export function eventErrors(e: unknown): string[] {
  const type = (e as { type?: unknown } | null)?.type;
  const check = checkFor(type);
  if (check === undefined) {
    return [
      `/type: unknown event type ${JSON.stringify(type) ?? "undefined"} (known: ${EVENT_TYPES.join(", ")})`,
    ];
  }
  return [...check.Errors(e)].map((err) => `${err.path || "/"}: ${err.message}`);
}
