import { dmaCopySuite } from './guest-suite.ts';

// Without a vIOMMU: the device's DMA goes through shared guest memory.
dmaCopySuite({ kernel: '7.3', iommu: false, sizes: [1 << 20] });
