import { guestSuite } from './suite.ts';

guestSuite({ kernel: '6.12', iommu: false, sysmem: true });
