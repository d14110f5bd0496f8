import { dmaCopySuite } from './guest-suite.ts';

// With a vIOMMU: the device's DMA goes by message, in pieces; the large transfers live here.
dmaCopySuite({ kernel: '6.12', iommu: true, sizes: [1 << 20, 4 << 20, 16 << 20] });
