// Builds the capability chains: standard capabilities from 0x40 linked from
// PCI_CAPABILITY_LIST, extended capabilities from 0x100. Each builder lays out
// the registers with their reset values and write masks as the spec defines
// them; behaviour (FLR, MSI-X enable...) is wired by the function model.
import type { ConfigSpace } from './config-space.ts';
import * as R from './regs.ts';

export interface PmSpec { pme?: boolean }
export interface PcieSpec { flr?: boolean }
export interface MsiSpec { vectors: 1 | 2 | 4 | 8 | 16 | 32; is64?: boolean; perVectorMask?: boolean }
export interface MsixSpec { vectors: number; bar: number; tableOffset: number; pbaOffset: number }

export interface CapabilitySpec {
  pm?: PmSpec | boolean;
  pcie?: PcieSpec | boolean;
  msi?: MsiSpec;
  msix?: MsixSpec;
  aer?: boolean;
  /** Device Serial Number (64 bits). */
  dsn?: bigint;
}

export interface CapabilityOffsets {
  pm?: number;
  pcie?: number;
  msi?: number;
  msix?: number;
  aer?: number;
  dsn?: number;
}

class Chain {
  private next = 0x40;
  private last = -1;
  private extLast = -1;
  private extNext = 0x100;

  constructor(private readonly cfg: ConfigSpace) {}

  add(id: number, size: number): number {
    const at = this.next;
    if (at + size > 0x100) throw new Error(`capabilities do not fit in the 256-byte header space (capability 0x${id.toString(16)})`);
    this.cfg.setU8(at, id);
    this.cfg.setU8(at + 1, 0);
    if (this.last < 0) {
      this.cfg.setU8(R.PCI_CAPABILITY_LIST, at);
      this.cfg.setU16(R.PCI_STATUS, this.cfg.u16(R.PCI_STATUS) | R.PCI_STATUS_CAP_LIST);
    } else {
      this.cfg.setU8(this.last + 1, at);
    }
    this.last = at;
    this.next = (at + size + 3) & ~3;
    return at;
  }

  addExt(id: number, version: number, size: number): number {
    if (this.cfg.size < R.PCI_CFG_SPACE_EXP_SIZE) throw new Error('extended capabilities need PCI Express (4 KiB config space)');
    const at = this.extNext;
    this.cfg.setU32(at, id | (version << 16));
    if (this.extLast >= 0) this.cfg.setU32(this.extLast, this.cfg.u32(this.extLast) | (at << 20));
    this.extLast = at;
    this.extNext = (at + size + 3) & ~3;
    return at;
  }
}

export function buildCapabilities(cfg: ConfigSpace, spec: CapabilitySpec): CapabilityOffsets {
  const chain = new Chain(cfg);
  const out: CapabilityOffsets = {};

  if (spec.pm) {
    const pme = typeof spec.pm === 'object' && spec.pm.pme === true;
    const at = chain.add(R.PCI_CAP_ID_PM, R.PCI_PM_SIZEOF);
    // Version 3; PME from D0 and D3hot when asked for.
    cfg.setU16(at + R.PCI_PM_PMC, 0x0003 | (pme ? (1 << 11) | (1 << 14) : 0));
    cfg.setU16(at + R.PCI_PM_CTRL, R.PCI_PM_CTRL_NO_SOFT_RESET);
    cfg.setWritable(at + R.PCI_PM_CTRL, 2, R.PCI_PM_CTRL_STATE_MASK | (pme ? R.PCI_PM_CTRL_PME_ENABLE : 0));
    if (pme) cfg.setW1c(at + R.PCI_PM_CTRL, 2, R.PCI_PM_CTRL_PME_STATUS);
    out.pm = at;
  }

  if (spec.pcie) {
    const flr = typeof spec.pcie === 'object' ? spec.pcie.flr !== false : true;
    const at = chain.add(R.PCI_CAP_ID_EXP, R.PCI_EXP_ENDPOINT_SIZEOF);
    cfg.setU16(at + R.PCI_EXP_FLAGS, 0x0002 | (R.PCI_EXP_FLAGS_TYPE_ENDPOINT << 4)); // version 2, endpoint
    // Max payload 128 B, role-based error reporting, FLR if capable.
    cfg.setU32(at + R.PCI_EXP_DEVCAP, R.PCI_EXP_DEVCAP_RBER | (flr ? R.PCI_EXP_DEVCAP_FLR : 0));
    // Reset: relaxed ordering, no snoop, max read request 512 B.
    cfg.setU16(at + R.PCI_EXP_DEVCTL, 0x2810);
    cfg.setWritable(at + R.PCI_EXP_DEVCTL, 2, 0x7fff | (flr ? R.PCI_EXP_DEVCTL_BCR_FLR : 0));
    cfg.setW1c(at + R.PCI_EXP_DEVSTA, 2, R.PCI_EXP_DEVSTA_CED | R.PCI_EXP_DEVSTA_NFED | R.PCI_EXP_DEVSTA_FED | R.PCI_EXP_DEVSTA_URD);
    cfg.setU32(at + R.PCI_EXP_LNKCAP, 0x00000011); // 2.5 GT/s, x1
    cfg.setWritable(at + R.PCI_EXP_LNKCTL, 2, 0x01c3); // ASPM control, common clock, ext sync, clock PM
    cfg.setU16(at + R.PCI_EXP_LNKSTA, 0x0011); // 2.5 GT/s, x1
    cfg.setWritable(at + R.PCI_EXP_DEVCTL2, 2, 0x001f); // completion timeout value and disable
    cfg.setU32(at + R.PCI_EXP_LNKCAP2, 0x00000002); // supports 2.5 GT/s
    cfg.setU16(at + R.PCI_EXP_LNKCTL2, 0x0001);
    cfg.setWritable(at + R.PCI_EXP_LNKCTL2, 2, 0x000f);
    out.pcie = at;
  }

  if (spec.msi) {
    const m = spec.msi;
    const is64 = m.is64 !== false;
    const size = 10 + (is64 ? 4 : 0) + (m.perVectorMask ? 10 : 0);
    const at = chain.add(R.PCI_CAP_ID_MSI, size);
    const mmc = Math.log2(m.vectors);
    if (!Number.isInteger(mmc)) throw new Error(`MSI vectors must be 1, 2, 4, 8, 16 or 32, got ${m.vectors}`);
    cfg.setU16(at + R.PCI_MSI_FLAGS, (mmc << 1) | (is64 ? R.PCI_MSI_FLAGS_64BIT : 0) | (m.perVectorMask ? R.PCI_MSI_FLAGS_MASKBIT : 0));
    cfg.setWritable(at + R.PCI_MSI_FLAGS, 2, R.PCI_MSI_FLAGS_ENABLE | R.PCI_MSI_FLAGS_QSIZE);
    cfg.setWritable(at + R.PCI_MSI_ADDRESS_LO, 4, 0xfffffffc);
    let next = at + 8;
    if (is64) {
      cfg.setWritable(at + 8, 4, 0xffffffff);
      next = at + 12;
    }
    cfg.setWritable(next, 2, 0xffff); // message data
    if (m.perVectorMask) {
      const maskAt = next + 4;
      cfg.setWritable(maskAt, 4, m.vectors === 32 ? 0xffffffff : (1 << m.vectors) - 1);
    }
    out.msi = at;
  }

  if (spec.msix) {
    const m = spec.msix;
    if (m.vectors < 1 || m.vectors > 2048) throw new Error(`MSI-X vectors must be 1..2048, got ${m.vectors}`);
    if ((m.tableOffset | m.pbaOffset) & 7) throw new Error('MSI-X table and PBA offsets must be 8-byte aligned');
    const at = chain.add(R.PCI_CAP_ID_MSIX, R.PCI_CAP_MSIX_SIZEOF);
    cfg.setU16(at + R.PCI_MSIX_FLAGS, m.vectors - 1);
    cfg.setWritable(at + R.PCI_MSIX_FLAGS, 2, R.PCI_MSIX_FLAGS_ENABLE | R.PCI_MSIX_FLAGS_MASKALL);
    cfg.setU32(at + R.PCI_MSIX_TABLE, m.tableOffset | m.bar);
    cfg.setU32(at + R.PCI_MSIX_PBA, m.pbaOffset | m.bar);
    out.msix = at;
  }

  if (spec.aer) {
    const at = chain.addExt(R.PCI_EXT_CAP_ID_ERR, 2, R.PCI_ERR_ENDPOINT_SIZEOF);
    cfg.setW1c(at + R.PCI_ERR_UNCOR_STATUS, 4, R.PCI_ERR_UNC_MASK_ALL);
    cfg.setWritable(at + R.PCI_ERR_UNCOR_MASK, 4, R.PCI_ERR_UNC_MASK_ALL);
    cfg.setU32(at + R.PCI_ERR_UNCOR_SEVER, R.PCI_ERR_UNC_SEVER_DEFAULT);
    cfg.setWritable(at + R.PCI_ERR_UNCOR_SEVER, 4, R.PCI_ERR_UNC_MASK_ALL);
    cfg.setW1c(at + R.PCI_ERR_COR_STATUS, 4, R.PCI_ERR_COR_MASK_ALL);
    cfg.setU32(at + R.PCI_ERR_COR_MASK, R.PCI_ERR_COR_MASK_DEFAULT);
    cfg.setWritable(at + R.PCI_ERR_COR_MASK, 4, R.PCI_ERR_COR_MASK_ALL);
    out.aer = at;
  }

  if (spec.dsn !== undefined) {
    const at = chain.addExt(R.PCI_EXT_CAP_ID_DSN, 1, R.PCI_DSN_SIZEOF);
    cfg.setU32(at + 4, Number(spec.dsn & 0xffffffffn));
    cfg.setU32(at + 8, Number((spec.dsn >> 32n) & 0xffffffffn));
    out.dsn = at;
  }
  return out;
}
