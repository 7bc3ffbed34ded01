export {
  type ExploreOptions,
  type ExploreResult,
  explore,
  runSchedule,
  ScheduleError,
  SeenStates,
} from "./explorer.ts";
export { DEFAULT_BOUNDS, type ExploreBounds, ExploreWorld, type PolicyMaker } from "./world.ts";
