/**
 * sun4v hypercall function numbers and argument encodings, as in Linux
 * arch/sparc/include/asm/hypervisor.h (see shared/reference/sun4v.md), and this project's
 * extension calls for the method.
 */

/** Fast-trap function numbers (trap 0x80, number in %o5). */
export const FN = {
  PCI_IOMMU_MAP: 0xb0,
  PCI_IOMMU_DEMAP: 0xb1,
  PCI_IOMMU_GETMAP: 0xb2,
  PCI_IOMMU_GETBYPASS: 0xb3,
  PCI_DMA_SYNC: 0xb8,
  /** Copies between the caller's memory and what the channel's peer exported to it. */
  LDC_COPY: 0xec,
  /** ATU (IOMMU v2) calls 0x190-0x19a: the ATU API group is not offered by this model. */
  IOTSB_FIRST: 0x190,
  IOTSB_LAST: 0x19a,
  /** This project's extension for the method, control domain only. Not part of sun4v. */
  DVMA_GRANT: 0x1f0,
  DVMA_REVOKE: 0x1f1,
  DVMA_INFO: 0x1f2,
} as const;

export const FN_NAMES: Readonly<Record<number, string>> = {
  [FN.PCI_IOMMU_MAP]: "pci_iommu_map",
  [FN.PCI_IOMMU_DEMAP]: "pci_iommu_demap",
  [FN.PCI_IOMMU_GETMAP]: "pci_iommu_getmap",
  [FN.PCI_IOMMU_GETBYPASS]: "pci_iommu_getbypass",
  [FN.PCI_DMA_SYNC]: "pci_dma_sync",
  [FN.LDC_COPY]: "ldc_copy",
  [FN.DVMA_GRANT]: "dvma_grant",
  [FN.DVMA_REVOKE]: "dvma_revoke",
  [FN.DVMA_INFO]: "dvma_info",
};

/** tsbid: bits 63:32 tsbnum (must be 0), bits 31:0 the zero-based entry index. */
export const tsbid = (tsbnum: number, index: number): bigint =>
  (BigInt(tsbnum) << 32n) | BigInt(index >>> 0);

/** PCI_DMA_SYNC directions. */
export const SYNC_FOR_DEVICE = 1;
export const SYNC_FOR_CPU = 2;
