// Base Address Registers: type bits, sizing (software writes all-ones and
// reads back the size mask: the low address bits are simply not writable),
// and the addresses software programmed.
import type { ConfigSpace } from './config-space.ts';
import * as R from './regs.ts';

export type BarType = 'mem32' | 'mem64' | 'io';

export interface BarSpec {
  type: BarType;
  /** Bytes; a power of two (memory >= 16, I/O 4..256). */
  size: number;
  prefetchable?: boolean;
}

const isPow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

export function validateBars(bars: (BarSpec | undefined)[]): void {
  bars.forEach((b, i) => {
    if (!b) return;
    if (i > 5) throw new Error(`BAR${i} does not exist (BAR0-BAR5)`);
    if (b.type === 'io') {
      if (!isPow2(b.size) || b.size < 4 || b.size > 256) throw new Error(`BAR${i}: I/O BAR size must be a power of two in 4..256, got ${b.size}`);
      if (b.prefetchable) throw new Error(`BAR${i}: I/O BARs cannot be prefetchable`);
    } else {
      if (!isPow2(b.size) || b.size < 16) throw new Error(`BAR${i}: memory BAR size must be a power of two >= 16, got ${b.size}`);
      if (b.type === 'mem32' && b.size > 2 ** 31) throw new Error(`BAR${i}: a 32-bit BAR cannot be larger than 2 GiB`);
    }
    if (b.type === 'mem64') {
      if (i === 5) throw new Error('BAR5 cannot be 64-bit: it needs BAR6 for the upper half');
      if (bars[i + 1]) throw new Error(`BAR${i} is 64-bit and takes BAR${i + 1}, which is also declared`);
    }
  });
}

export function installBars(cfg: ConfigSpace, bars: (BarSpec | undefined)[]): void {
  validateBars(bars);
  bars.forEach((b, i) => {
    if (!b) return;
    const at = R.PCI_BASE_ADDRESS_0 + 4 * i;
    if (b.type === 'io') {
      cfg.setU32(at, R.PCI_BASE_ADDRESS_SPACE_IO);
      cfg.setWritable(at, 4, ~(b.size - 1) & 0xfffffffc);
      return;
    }
    const lowType = (b.type === 'mem64' ? R.PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) | (b.prefetchable ? R.PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
    cfg.setU32(at, lowType);
    const sizeMask = b.size >= 2 ** 32 ? 0 : ~(b.size - 1) >>> 0;
    cfg.setWritable(at, 4, sizeMask & 0xfffffff0);
    if (b.type === 'mem64') {
      const hiMask = b.size > 2 ** 32 ? ~(b.size / 2 ** 32 - 1) >>> 0 : 0xffffffff;
      cfg.setWritable(at + 4, 4, hiMask);
    }
  });
}

/** The address software programmed into BAR i (undefined for an absent BAR). */
export function barAddress(cfg: ConfigSpace, bars: (BarSpec | undefined)[], i: number): bigint | undefined {
  const b = bars[i];
  if (!b) return undefined;
  const at = R.PCI_BASE_ADDRESS_0 + 4 * i;
  const lo = cfg.u32(at);
  if (b.type === 'io') return BigInt((lo & 0xfffffffc) >>> 0);
  const base = BigInt((lo & 0xfffffff0) >>> 0);
  return b.type === 'mem64' ? base | (BigInt(cfg.u32(at + 4)) << 32n) : base;
}

/** Expansion ROM BAR: enable bit plus the size-aligned address bits. */
export function installRom(cfg: ConfigSpace, size: number): void {
  if (!isPow2(size) || size < 2048) throw new Error(`expansion ROM size must be a power of two >= 2048, got ${size}`);
  cfg.setWritable(R.PCI_ROM_ADDRESS, 4, (~(size - 1) & 0xfffff800) | R.PCI_ROM_ADDRESS_ENABLE);
}
