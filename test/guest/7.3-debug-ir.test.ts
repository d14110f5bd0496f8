import { guestSuite } from './suite.ts';

// The whole suite on the debug build of 7.3 with interrupt remapping (see
// 6.12-debug-ir.test.ts).
guestSuite({ kernel: '7.3-debug', iommu: true, cmdline: 'iommu=pt', sysmem: true });
