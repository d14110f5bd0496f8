// pci-epf-test with a 16-entry MSI-X table, for suites that bind every vector
// in one SET_IRQS (a vfio-user message carries at most 16 descriptors).
import { PciEpfTestDevice } from '../../src/devices/pci-epf-test.ts';

export default () => new PciEpfTestDevice({ msixVectors: 16 });
