/** magazine: the former name of iova-rcache (Linux iova.c per-CPU magazines), kept for scenarios that use it. */

import { definePlugin } from "../../core/index.ts";
import iovaRcache from "./iova-rcache.ts";

export default definePlugin({
  name: "magazine",
  kind: "policy.local",
  version: "2.0.0",
  description: "Local DVMA policy: the former name of iova-rcache",
  options: iovaRcache.options,
  setup: iovaRcache.setup,
});
