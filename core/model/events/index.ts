export { EventBus } from "./bus.ts";
export {
  EVENT_TYPES,
  type EventEnvelope,
  EventEnvelopeSchemas,
  type EventFields,
  type EventOf,
  EventSchemas,
  type EventType,
  eventErrors,
  type SimEvent,
  SimEventSchema,
  validateEvent,
} from "./schemas.ts";
export {
  type ChromeTrace,
  DEFAULT_MAX_TRACE_EVENTS,
  type TraceEvent,
  TraceRecorder,
  type TraceRecorderOptions,
} from "./trace.ts";
