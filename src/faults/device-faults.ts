// Faults of the whole device (rather than of one interrupt or register):
// here, an uncorrectable error reported the way PCI Express Advanced Error
// Reporting does it.
import type { PciFunction } from '../pci/function.ts';
import * as R from '../pci/regs.ts';

export interface AerErrorOptions {
  /** Uncorrectable error status bit (default 14, completion timeout). */
  bit?: number;
  /** Fatal or not (default: what the severity register says for that bit). */
  fatal?: boolean;
  /** Raise the ERR interrupt (default true; QEMU stops the VM on it). */
  signal?: boolean;
  /** The four header log dwords. */
  header?: number[];
}

/**
 * The status bit in the AER capability, the header log and First Error
 * Pointer, Device Status in the Express capability, then ERR.
 */
export function reportAerError(dev: PciFunction, opts: AerErrorOptions = {}): void {
  const aer = dev.caps.aer;
  if (aer === undefined) throw new Error('this device has no AER capability');
  const bit = opts.bit ?? 14;
  if (!Number.isInteger(bit) || bit < 0 || bit > 31 || !((R.PCI_ERR_UNC_MASK_ALL >>> bit) & 1)) {
    throw new Error(`AER uncorrectable bit ${bit} is not a defined error`);
  }
  const c = dev.config;
  c.setU32(aer + R.PCI_ERR_UNCOR_STATUS, c.u32(aer + R.PCI_ERR_UNCOR_STATUS) | (1 << bit));
  const fatal = opts.fatal ?? ((c.u32(aer + R.PCI_ERR_UNCOR_SEVER) >>> bit) & 1) === 1;
  (opts.header ?? [0, 0, 0, 0]).forEach((dw, i) => c.setU32(aer + R.PCI_ERR_HEADER_LOG + 4 * i, dw));
  c.setU32(aer + R.PCI_ERR_CAP, (c.u32(aer + R.PCI_ERR_CAP) & ~0x1f) | bit);
  if (dev.caps.pcie !== undefined) {
    const sta = dev.caps.pcie + R.PCI_EXP_DEVSTA;
    c.setU16(sta, c.u16(sta) | (fatal ? R.PCI_EXP_DEVSTA_FED : R.PCI_EXP_DEVSTA_NFED));
  }
  if (opts.signal !== false) dev.err.fire();
}
