// pcitest on 6.12 with a vIOMMU: interrupt remapping (all 32 MSI vectors) and
// DMA translation (the function's DMA goes by DMA_READ/DMA_WRITE messages).
import { endpointGuestSuite } from './guest-suite.ts';

endpointGuestSuite({ kernel: '6.12', iommu: true });
