// What sits in a function's BARs: windows (a register map, the MSI-X table,
// the PBA, an IMS table, plain memory), each with its own read and write.
// An access is split over the windows it touches; bytes outside every window
// read as zero and ignore writes, as a BAR's unimplemented space does.
import type { BarSpec } from './bars.ts';

/** A piece of a BAR with its own behaviour. */
export interface BarWindow {
  name: string;
  offset: number;
  size: number;
  read(offset: number, length: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
  reset?(): void;
}

export class BarWindows {
  private readonly windows: BarWindow[][] = [[], [], [], [], [], []];

  constructor(private readonly bars: readonly (BarSpec | undefined)[]) {}

  /** Places a window in a BAR; windows may not overlap. */
  add(bar: number, w: BarWindow): void {
    const spec = this.bars[bar];
    if (!spec) throw new Error(`BAR${bar} is not declared`);
    if (w.offset < 0 || w.offset + w.size > spec.size) throw new Error(`${w.name}: [0x${w.offset.toString(16)}, +0x${w.size.toString(16)}) does not fit BAR${bar} (0x${spec.size.toString(16)} bytes)`);
    const clash = this.windows[bar].find((o) => w.offset < o.offset + o.size && o.offset < w.offset + w.size);
    if (clash) throw new Error(`${w.name} overlaps ${clash.name} in BAR${bar}`);
    this.windows[bar].push(w);
    this.windows[bar].sort((a, b) => a.offset - b.offset);
  }

  read(bar: number, offset: number, count: number): Uint8Array {
    return this.access(bar, offset, count, undefined);
  }

  write(bar: number, offset: number, data: Uint8Array): void {
    this.access(bar, offset, data.length, data);
  }

  /** One loop for both directions: the write path is the posted-write storm path. */
  private access(bar: number, offset: number, count: number, data: Uint8Array | undefined): Uint8Array {
    const out = data ?? new Uint8Array(count);
    const end = offset + count;
    for (const w of this.windows[bar]) {
      const s = Math.max(offset, w.offset);
      const e = Math.min(end, w.offset + w.size);
      if (s >= e) continue;
      if (data) w.write(s - w.offset, data.subarray(s - offset, e - offset));
      else out.set(w.read(s - w.offset, e - s), s - offset);
    }
    return out;
  }

  reset(): void {
    for (const ws of this.windows) for (const w of ws) w.reset?.();
  }
}
