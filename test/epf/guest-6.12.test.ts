// pcitest on 6.12 without a vIOMMU.
import { endpointGuestSuite } from './guest-suite.ts';

endpointGuestSuite({ kernel: '6.12', iommu: false });
