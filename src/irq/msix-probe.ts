// Reading a vector's mask bit from the MSI-X table a client emulates (QEMU
// does; see msix.ts): the table sits in the device's own BAR, at the address
// the guest programmed, so the device reads it with a DMA read like any
// other memory. Under an IOMMU that translates the device's DMA the read
// faults; the device then stops asking that client.
import type { PciFunction } from '../pci/function.ts';
import type { DeviceContext } from '../device/model.ts';
import type { MsixSpec } from '../pci/capabilities.ts';
import { PCI_MSIX_ENTRY_SIZE, PCI_MSIX_ENTRY_VECTOR_CTRL, PCI_MSIX_ENTRY_CTRL_MASKBIT } from '../pci/regs.ts';

export function clientTableProbe(dev: PciFunction, mx: MsixSpec): (v: number) => Promise<boolean | undefined> {
  let failedFor: DeviceContext | null = null;
  return async (v) => {
    const base = dev.barAddress(mx.bar);
    const ctx = dev.context;
    if (!ctx || !base || failedFor === ctx) return undefined;
    try {
      const ctrl = await dev.dmaRead(base + BigInt(mx.tableOffset + v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL), 4);
      return (ctrl[0] & PCI_MSIX_ENTRY_CTRL_MASKBIT) !== 0;
    } catch (err) {
      failedFor = ctx;
      ctx.log(`cannot read the client's MSI-X table by DMA (${(err as Error).message}); the PBA will not show vectors the client holds`);
      return undefined;
    }
  };
}
