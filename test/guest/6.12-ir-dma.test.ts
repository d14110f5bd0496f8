import { guestSuite } from './suite.ts';

// Interrupt remapping and DMA translation (the Debian default with a vIOMMU):
// system-memory IMS slots are read through IOVAs.
guestSuite({ kernel: '6.12', iommu: true, sysmem: true, dmaTranslation: true });
