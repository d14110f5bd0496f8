import { guestSuite } from './suite.ts';

// iommu=pt: see 6.12-ir.test.ts.
guestSuite({ kernel: '7.3', iommu: true, cmdline: 'iommu=pt', sysmem: true });
