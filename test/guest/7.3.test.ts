import { guestSuite } from './suite.ts';

guestSuite({ kernel: '7.3', iommu: false, sysmem: true });
