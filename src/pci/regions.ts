// The function's regions as the client reaches them (DEVICE_GET_REGION_INFO,
// REGION_READ, REGION_WRITE): config space (region 7), the BARs (0-5) through
// their windows, the expansion ROM (6). The rules every access meets on the
// way: a removed device reads all-ones and drops writes, the access hooks
// (fault rules) come first, and a BAR whose decoding is off in the command
// register answers nothing (a guest error, as on a real bus).
import {
  PCI_NUM_REGIONS, Region, REGION_INFO_FLAG_READ, REGION_INFO_FLAG_WRITE, Errno, VfioError,
} from '../protocol/index.ts';
import type { RegionAccessHook, RegionInfoResult } from '../device/model.ts';
import type { GuestErrorKind } from '../device/guest-errors.ts';
import type { ConfigSpace } from './config-space.ts';
import type { BarSpec } from './bars.ts';
import type { BarWindows } from './bar-windows.ts';
import * as R from './regs.ts';

export interface RegionsParts {
  config: ConfigSpace;
  bars: readonly (BarSpec | undefined)[];
  rom?: Uint8Array;
  windows: BarWindows;
  accessHooks: readonly RegionAccessHook[];
  /** Surprise removal is in force. */
  removed: () => boolean;
  guestError: (kind: GuestErrorKind, message: string) => void;
  /** A config space write landed (the function's 'config-write' event). */
  configWritten: (offset: number, data: Uint8Array) => void;
}

const NONE: RegionInfoResult = { size: 0, flags: 0 };

export class FunctionRegions {
  /** While removed, config space reads all-ones too (surpriseRemove's `config`). */
  configGoneToo = false;
  /** Region sizes and permissions never change: computed once (every access checks them). */
  private readonly infos: RegionInfoResult[];

  constructor(private readonly p: RegionsParts) {
    this.infos = Array.from({ length: PCI_NUM_REGIONS }, (_, i) => this.describe(i));
  }

  info(index: number): RegionInfoResult {
    return this.infos[index] ?? NONE;
  }

  private describe(index: number): RegionInfoResult {
    const rw = REGION_INFO_FLAG_READ | REGION_INFO_FLAG_WRITE;
    if (index <= Region.BAR5) {
      const b = this.p.bars[index];
      return b ? { size: b.size, flags: rw } : NONE;
    }
    if (index === Region.ROM) return this.p.rom ? { size: this.p.rom.length, flags: REGION_INFO_FLAG_READ } : NONE;
    if (index === Region.CONFIG) return { size: this.p.config.size, flags: rw };
    return NONE;
  }

  read(index: number, offset: number, count: number): Uint8Array {
    const { config, rom, bars } = this.p;
    // A removed device answers nothing: the root port completes reads with all-ones.
    if (this.p.removed() && (index !== Region.CONFIG || this.configGoneToo)) return new Uint8Array(count).fill(0xff);
    for (const h of this.p.accessHooks) {
      const instead = h.read?.(index, offset, count);
      if (instead) return instead;
    }
    if (index === Region.CONFIG) return config.read(offset, count);
    if (index === Region.ROM && rom) return rom.slice(offset, offset + count);
    if (index <= Region.BAR5 && bars[index]) {
      if (!this.decodes(index)) {
        this.p.guestError('decode-off', `read of BAR${index}+0x${offset.toString(16)} while its decoding is off in the command register`);
        return new Uint8Array(count).fill(0xff);
      }
      return this.p.windows.read(index, offset, count);
    }
    throw new VfioError(Errno.EINVAL, `region ${index} cannot be read`);
  }

  /** A write of the client: the access hooks first, then the model. */
  write(index: number, offset: number, data: Uint8Array): void {
    if (this.p.removed()) return;
    for (const h of this.p.accessHooks) if (h.write?.(index, offset, data)) return;
    this.apply(index, offset, data);
  }

  /** A write as the model takes it, behind every access hook (the posted-write buffer lands writes here). */
  apply(index: number, offset: number, data: Uint8Array): void {
    if (this.p.removed()) return;
    if (index === Region.CONFIG) {
      this.p.config.write(offset, data);
      this.p.configWritten(offset, data);
      return;
    }
    if (index <= Region.BAR5 && this.p.bars[index]) {
      if (!this.decodes(index)) {
        this.p.guestError('decode-off', `write to BAR${index}+0x${offset.toString(16)} while its decoding is off in the command register; dropped`);
        return;
      }
      this.p.windows.write(index, offset, data);
      return;
    }
    throw new VfioError(Errno.EINVAL, `region ${index} cannot be written`);
  }

  /** Memory/I-O decode enable for the BAR's space (PCI command register). */
  private decodes(bar: number): boolean {
    const io = this.p.bars[bar]!.type === 'io';
    return (this.p.config.u16(R.PCI_COMMAND) & (io ? R.PCI_COMMAND_IO : R.PCI_COMMAND_MEMORY)) !== 0;
  }
}
