// An uncorrectable error reported the way PCI Express Advanced Error
// Reporting does it: the status bit in the AER capability, the header log
// and the First Error Pointer, Fatal or Non-Fatal Error Detected in the
// Express capability's Device Status, then the ERR interrupt.
import type { ConfigSpace } from './config-space.ts';
import type { CapabilityOffsets } from './capabilities.ts';
import * as R from './regs.ts';

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

export function reportAerError(c: ConfigSpace, caps: CapabilityOffsets, raiseErr: () => void, opts: AerErrorOptions = {}): void {
  const aer = caps.aer;
  if (aer === undefined) throw new Error('this device has no AER capability');
  const bit = opts.bit ?? 14;
  if (!Number.isInteger(bit) || bit < 0 || bit > 31 || !((R.PCI_ERR_UNC_MASK_ALL >>> bit) & 1)) {
    throw new Error(`AER uncorrectable bit ${bit} is not a defined error`);
  }
  c.setU32(aer + R.PCI_ERR_UNCOR_STATUS, c.u32(aer + R.PCI_ERR_UNCOR_STATUS) | (1 << bit));
  const fatal = opts.fatal ?? ((c.u32(aer + R.PCI_ERR_UNCOR_SEVER) >>> bit) & 1) === 1;
  (opts.header ?? [0, 0, 0, 0]).forEach((dw, i) => c.setU32(aer + R.PCI_ERR_HEADER_LOG + 4 * i, dw));
  c.setU32(aer + R.PCI_ERR_CAP, (c.u32(aer + R.PCI_ERR_CAP) & ~0x1f) | bit);
  if (caps.pcie !== undefined) {
    const sta = caps.pcie + R.PCI_EXP_DEVSTA;
    c.setU16(sta, c.u16(sta) | (fatal ? R.PCI_EXP_DEVSTA_FED : R.PCI_EXP_DEVSTA_NFED));
  }
  if (opts.signal !== false) raiseErr();
}
