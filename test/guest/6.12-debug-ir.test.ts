import { guestSuite } from './suite.ts';

// The whole suite on the debug build of 6.12 (lockdep, atomic-sleep checks,
// irq debugfs) with interrupt remapping: a splat in any check fails it, and
// the kernel's own irq debugfs must describe every chain as the module does.
guestSuite({ kernel: '6.12-debug', iommu: true, cmdline: 'iommu=pt', sysmem: true });
