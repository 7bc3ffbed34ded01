/**
 * iova-maple: the iova.c allocator over a maple-style gap B-tree (iova/gap-btree.ts), as v3 of
 * the 2026 O(log n) series does with `lib/maple_tree.c`: ranges in 16-slot leaves, internal
 * nodes of up to 10 children that each record the largest gap below them, and a top-down
 * reverse gap search (`mas_empty_area_rev`) that takes the highest gap below the request's
 * limit that fits. One global spin lock; every node visited is one unit of "node" work.
 */

import { definePlugin } from "../../core/index.ts";
import { GapSearch } from "./iova/iova-tree.ts";
import { treeOptions } from "./iova/options.ts";

export default definePlugin({
  name: "iova-maple",
  kind: "policy.local",
  version: "1.0.0",
  description: "Local DVMA policy: iova.c ranges in a maple-style gap B-tree, O(log n) search",
  options: treeOptions,
  setup(_ctx, opts) {
    return ({ windowPages, meter }) => new GapSearch("maple", windowPages, meter, opts);
  },
});
