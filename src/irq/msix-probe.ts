// Reading a vector's mask bit from the MSI-X table a client emulates (QEMU
// does; see msix.ts): the table sits in the device's own BAR, at the address
// the guest programmed, so the device reads it with a DMA read like any
// other memory. Under an IOMMU that translates the device's DMA the read
// faults; the device then stops asking that client.
import { PCI_MSIX_ENTRY_SIZE, PCI_MSIX_ENTRY_VECTOR_CTRL, PCI_MSIX_ENTRY_CTRL_MASKBIT } from './msix.ts';

/** What the probe needs from the device (a PciFunction is one). */
export interface MsixProbeHost {
  /** The address software programmed into BAR `bar` (undefined or 0 while unassigned). */
  barAddress(bar: number): bigint | undefined;
  /** The attached client, null when none; probes stop for a client whose table cannot be read. */
  readonly context: { log(line: string): void } | null;
  /** The device's own DMA read (through its DMA hooks). */
  dmaRead(address: bigint, length: number): Promise<Uint8Array>;
}

/** Where the table is: its BAR and offset (the MSI-X capability's Table BIR and offset). */
export interface MsixTableLocation {
  bar: number;
  tableOffset: number;
}

export function clientTableProbe(dev: MsixProbeHost, table: MsixTableLocation): (v: number) => Promise<boolean | undefined> {
  let failedFor: object | null = null;
  return async (v) => {
    const base = dev.barAddress(table.bar);
    const ctx = dev.context;
    if (!ctx || !base || failedFor === ctx) return undefined;
    try {
      const ctrl = await dev.dmaRead(base + BigInt(table.tableOffset + v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL), 4);
      return (ctrl[0] & PCI_MSIX_ENTRY_CTRL_MASKBIT) !== 0;
    } catch (err) {
      failedFor = ctx;
      ctx.log(`cannot read the client's MSI-X table by DMA (${(err as Error).message}); the PBA will not show vectors the client holds`);
      return undefined;
    }
  };
}
