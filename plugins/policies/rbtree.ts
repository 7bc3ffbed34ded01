/** rbtree: the former name of iova-rbtree (Linux iova.c, iova/iova-tree.ts), kept for scenarios that use it. */

import { definePlugin } from "../../core/index.ts";
import iovaRbtree from "./iova-rbtree.ts";

export default definePlugin({
  name: "rbtree",
  kind: "policy.local",
  version: "2.0.0",
  description: "Local DVMA policy: the former name of iova-rbtree",
  options: iovaRbtree.options,
  setup: iovaRbtree.setup,
});
