/** next-fit-pools: the former name of iommu-common (Linux iommu-common.c pools), kept for scenarios that use it. */

import { definePlugin } from "../../core/index.ts";
import iommuCommon from "./iommu-common.ts";

export default definePlugin({
  name: "next-fit-pools",
  kind: "policy.local",
  version: "2.0.0",
  description: "Local DVMA policy: the former name of iommu-common",
  options: iommuCommon.options,
  setup: iommuCommon.setup,
});
