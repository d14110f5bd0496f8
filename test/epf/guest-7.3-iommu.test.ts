// The pci_endpoint kselftest on 7.3 with a vIOMMU: interrupt remapping (all
// 32 MSI vectors) and DMA translation (DMA by message).
import { endpointGuestSuite } from './guest-suite.ts';

endpointGuestSuite({ kernel: '7.3', iommu: true });
