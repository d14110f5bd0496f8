// What sits in a function's BARs: windows (a register map, the MSI-X table,
// the PBA, an IMS table, plain memory), each with its own read and write,
// placed so that they fit their BAR and never overlap, and reset with the
// device. The function splits each access over the windows it touches
// (PciFunction.regionRead/regionWrite).
import type { BarSpec } from './bars.ts';

/** A piece of a BAR with its own behaviour. */
export interface BarWindow {
  name: string;
  offset: number;
  size: number;
  read(offset: number, length: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
  reset?(): void;
  /** The named registers inside it (offsets within the window), for traces. */
  registers?(): { name: string; offset: number; width: number }[];
}

export class BarWindows {
  /** The windows of each BAR, by offset. */
  readonly inBar: readonly BarWindow[][] = [[], [], [], [], [], []];

  constructor(private readonly bars: readonly (BarSpec | undefined)[]) {}

  /** Places a window in a BAR; windows may not overlap. */
  add(bar: number, w: BarWindow): void {
    const spec = this.bars[bar];
    if (!spec) throw new Error(`BAR${bar} is not declared`);
    if (w.offset < 0 || w.offset + w.size > spec.size) throw new Error(`${w.name}: [0x${w.offset.toString(16)}, +0x${w.size.toString(16)}) does not fit BAR${bar} (0x${spec.size.toString(16)} bytes)`);
    const clash = this.inBar[bar].find((o) => w.offset < o.offset + o.size && o.offset < w.offset + w.size);
    if (clash) throw new Error(`${w.name} overlaps ${clash.name} in BAR${bar}`);
    this.inBar[bar].push(w);
    this.inBar[bar].sort((a, b) => a.offset - b.offset);
  }

  reset(): void {
    for (const ws of this.inBar) for (const w of ws) w.reset?.();
  }
}

/**
 * Plain memory in a BAR (a device's buffer or RAM): what software writes
 * reads back, any size and alignment; zero after a reset. The device reaches
 * the same bytes through `mem`.
 */
export function memoryWindow(name: string, offset: number, size: number): BarWindow & { mem: Uint8Array } {
  const mem = new Uint8Array(size);
  return {
    name, offset, size, mem,
    read: (o, n) => mem.slice(o, o + n),
    write: (o, d) => mem.set(d, o),
    reset: () => mem.fill(0),
  };
}
