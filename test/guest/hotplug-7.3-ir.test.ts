import { hotplugSuite } from './hotplug.ts';

hotplugSuite({ kernel: '7.3', iommu: true });
