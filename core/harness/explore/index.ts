export {
  type ExploreOptions,
  type ExploreResult,
  explore,
  runSchedule,
  ScheduleError,
} from "./explorer.ts";
export { SeenStates } from "./seen.ts";
export { DEFAULT_BOUNDS, type ExploreBounds, ExploreWorld, type PolicyMaker } from "./world.ts";
