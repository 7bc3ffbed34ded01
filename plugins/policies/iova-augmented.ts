/**
 * iova-augmented: the iova.c tree (iova/iova-tree.ts) augmented as the 2026 O(log n) series
 * proposes: each node keeps the free gap below it and the largest gap in its subtree, updated
 * through rotations like an `RB_DECLARE_CALLBACKS_MAX` tree. A request takes the highest gap
 * below its limit that fits (iova.c's answer when searching from the anchor), found by pruning
 * subtrees whose largest gap is too small, or that lie wholly above the limit — so a 32-bit
 * request among 64-bit allocations stays O(log n). One global spin lock; nodes visited are work.
 */

import { definePlugin } from "../../core/index.ts";
import { GapSearch } from "./iova/iova-tree.ts";
import { treeOptions } from "./iova/options.ts";

export default definePlugin({
  name: "iova-augmented",
  kind: "policy.local",
  version: "1.0.0",
  description: "Local DVMA policy: iova.c tree with subtree max-gap augmentation, O(log n) search",
  options: treeOptions,
  setup(_ctx, opts) {
    return ({ windowPages, meter }) => new GapSearch("augmented", windowPages, meter, opts);
  },
});
