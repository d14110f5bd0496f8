// pcitest on 6.12 with a vIOMMU: interrupt remapping (all 32 MSI vectors) and
// DMA translation (the function's DMA goes by DMA_READ/DMA_WRITE messages).
// pcitest runs one process per MSI-X vector (~25 ms each under TCG): the
// function gets 256 here, which 2 vCPUs take, to keep make test short;
// `irqlab selftest pci-endpoint --kernel 6.12` runs all 2048 on 12 vCPUs, and
// the 7.3 suites run 2048 through the kselftest.
import { endpointGuestSuite } from './guest-suite.ts';

endpointGuestSuite({ kernel: '6.12', iommu: true, msixVectors: 256, cpus: 2 });
