// A function's configuration space as its spec describes it: identity, the
// command and status registers' writable and write-1-to-clear bits, BARs and
// the expansion ROM BAR, the interrupt pin, and the capability chains. What
// registers do when written (FLR, MSI-X enable, INTx disable) is wired by the
// parts that own that behaviour.
import { ConfigSpace } from './config-space.ts';
import { buildCapabilities, type CapabilitySpec, type CapabilityOffsets } from './capabilities.ts';
import { installBars, installRom, type BarSpec } from './bars.ts';
import type { GuestErrorLogOptions } from '../device/guest-errors.ts';
import * as R from './regs.ts';

export interface PciIds {
  vendor: number;
  device: number;
  subsystemVendor?: number;
  subsystem?: number;
  revision?: number;
  /** 24-bit class code: base class, sub-class, programming interface. */
  classCode: number;
}

export interface PciFunctionSpec {
  ids: PciIds;
  /** PCI Express (4 KiB config space, Express capability); default true. */
  express?: boolean;
  bars?: Partial<Record<0 | 1 | 2 | 3 | 4 | 5, BarSpec>>;
  rom?: Uint8Array;
  capabilities?: Omit<CapabilitySpec, 'pcie'> & { pcie?: CapabilitySpec['pcie'] };
  /** Interrupt pin A (INTx); default true. */
  intx?: boolean;
  /** ERR and REQ irq indexes; default true. */
  err?: boolean;
  req?: boolean;
  /**
   * What an interrupt raised while bus mastering is off becomes: 'drop'
   * (default; it is lost, outcome 'blocked') or 'latch' (its pending bit is
   * set and it is sent once bus mastering is on, if unmasked).
   */
  busMasterOff?: 'drop' | 'latch';
  /** Posted writes to these windows land late: at the next read of the device, or after ms (PciFunction.holdPostedWrites). */
  latePostedWrites?: { region: number; offset?: number; length?: number; ms?: number }[];
  /** How guest errors are logged: the first N of each kind, then a summary per interval. */
  guestErrorLog?: GuestErrorLogOptions;
}

export interface FunctionConfig {
  config: ConfigSpace;
  caps: CapabilityOffsets;
  bars: (BarSpec | undefined)[];
  /** The ROM image, padded to the ROM BAR's size (a power of two, at least 2 KiB). */
  rom?: Uint8Array;
}

export function setUpConfig(spec: PciFunctionSpec): FunctionConfig {
  const express = spec.express !== false;
  const c = new ConfigSpace(express ? R.PCI_CFG_SPACE_EXP_SIZE : R.PCI_CFG_SPACE_SIZE);
  const ids = spec.ids;
  c.setU16(R.PCI_VENDOR_ID, ids.vendor);
  c.setU16(R.PCI_DEVICE_ID, ids.device);
  c.setU8(R.PCI_REVISION_ID, ids.revision ?? 0);
  c.setU8(R.PCI_CLASS_PROG, ids.classCode & 0xff);
  c.setU16(R.PCI_CLASS_PROG + 1, (ids.classCode >> 8) & 0xffff);
  c.setU16(R.PCI_SUBSYSTEM_VENDOR_ID, ids.subsystemVendor ?? ids.vendor);
  c.setU16(R.PCI_SUBSYSTEM_ID, ids.subsystem ?? 0);
  c.setWritable(R.PCI_COMMAND, 2, R.PCI_COMMAND_IO | R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER |
    R.PCI_COMMAND_PARITY | R.PCI_COMMAND_SERR | R.PCI_COMMAND_INTX_DISABLE);
  c.setW1c(R.PCI_STATUS, 2, R.PCI_STATUS_PARITY | R.PCI_STATUS_SIG_TARGET_ABORT | R.PCI_STATUS_REC_TARGET_ABORT |
    R.PCI_STATUS_REC_MASTER_ABORT | R.PCI_STATUS_SIG_SYSTEM_ERROR | R.PCI_STATUS_DETECTED_PARITY);
  c.setWritable(R.PCI_CACHE_LINE_SIZE, 1, 0xff);
  c.setWritable(R.PCI_INTERRUPT_LINE, 1, 0xff);

  const bars = [0, 1, 2, 3, 4, 5].map((i) => spec.bars?.[i as 0]);
  installBars(c, bars);
  let rom: Uint8Array | undefined;
  if (spec.rom) {
    const size = Math.max(2048, 2 ** Math.ceil(Math.log2(spec.rom.length)));
    installRom(c, size);
    rom = new Uint8Array(size);
    rom.set(spec.rom);
  }
  if (spec.intx !== false) c.setU8(R.PCI_INTERRUPT_PIN, 1);
  const caps = buildCapabilities(c, { ...spec.capabilities, pcie: express ? spec.capabilities?.pcie ?? true : undefined });
  return { config: c, caps, bars, rom };
}
