import { guestSuite } from './suite.ts';

// iommu=pt: interrupt remapping on, DMA identity-mapped, so the device can read
// QEMU's emulated MSI-X table and show held vectors in its PBA. The dma file
// covers the translating case.
guestSuite({ kernel: '6.12', iommu: true, cmdline: 'iommu=pt', sysmem: true });
