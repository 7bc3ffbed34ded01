export { CHOOSE_AGAIN, type EventChooser } from "./chooser.ts";
export { EventHeap } from "./heap.ts";
export {
  type Proc,
  Process,
  Signal,
  Simulator,
  type Yieldable,
} from "./kernel.ts";
export { Lock, type LockKind } from "./lock.ts";
export { Resource } from "./resource.ts";
export { fnv1a32, Rng, RngStreams } from "./rng.ts";
export { Counter, Histogram, TimeWeighted } from "./stats.ts";
export { TimedSignal } from "./timed-signal.ts";
