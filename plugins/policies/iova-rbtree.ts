/**
 * iova-rbtree: Linux `drivers/iommu/iova.c` `alloc_iova` → `__alloc_and_insert_iova_range`,
 * followed step for step (iova/iova-tree.ts): a red-black tree of [pfn_lo, pfn_hi] ranges with
 * the anchor node at the window's end, a top-down walk from `cached_node` (64-bit requests) or
 * `cached32_node` (requests limited below `dma32Pages`), size-aligned placement, the failed
 * size remembered in `max32_alloc_size`, and one retry between the cached node and the limit
 * (`iova_find_limit`). One global spin lock; every node visited is one unit of "node" work, so
 * a walk over n holes costs n units under the lock.
 */

import { definePlugin } from "../../core/index.ts";
import { IovaRbTree } from "./iova/iova-tree.ts";
import { treeOptions } from "./iova/options.ts";

export default definePlugin({
  name: "iova-rbtree",
  kind: "policy.local",
  version: "1.0.0",
  description: "Local DVMA policy: Linux iova.c rbtree, top-down linear walk from the cached node",
  options: treeOptions,
  setup(_ctx, opts) {
    return ({ windowPages, meter }) => new IovaRbTree(windowPages, meter, opts);
  },
});
