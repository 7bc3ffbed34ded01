/** The options every iova tree policy takes (iova-rbtree, iova-augmented, iova-maple, iova-rcache). */

import { Type } from "../../../core/index.ts";

export const treeOptionFields = {
  dma32Pages: Type.Integer({
    minimum: 0,
    default: 0,
    description:
      "iova.c dma_32bit_pfn as a window page: requests limited below it use cached32_node and max32_alloc_size; 0 = half the window (assumed)",
  }),
  sizeAligned: Type.Boolean({
    default: true,
    description:
      "align each allocation to its size rounded up to a power of two (dma-iommu calls alloc_iova_fast with size_aligned = true)",
  }),
};

export const treeOptions = Type.Object(treeOptionFields, { additionalProperties: false });
