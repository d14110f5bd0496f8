import { hotplugSuite } from './hotplug.ts';

hotplugSuite({ kernel: '6.12', iommu: true });
