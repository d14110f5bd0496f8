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
  /** `length` bytes of a new array the caller may keep (it can become the reply as it is). */
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

  /**
   * Plain memory in a BAR at `offset` (default: the rest of the BAR); returns
   * the bytes, which the device reads and writes itself.
   */
  addMemory(bar: number, opts: { offset?: number; size?: number; name?: string } = {}): Uint8Array {
    const offset = opts.offset ?? 0;
    const size = opts.size ?? (this.bars[bar]?.size ?? 0) - offset;
    if (!Number.isInteger(offset) || !Number.isInteger(size) || offset < 0 || size <= 0) {
      throw new Error(`addMemory(BAR${bar}): offset ${offset} and size ${size} must be integers, offset >= 0, size > 0`);
    }
    const w = memoryWindow(opts.name ?? `BAR${bar} memory`, offset, size);
    this.add(bar, w);
    return w.mem;
  }

  /**
   * A read of a BAR, split over its windows; bytes outside every window read
   * as zero, as a BAR's unimplemented space does. A read inside one window
   * (most are) is that window's answer as it is, read once (a register may
   * clear on read).
   */
  read(bar: number, offset: number, count: number): Uint8Array {
    const end = offset + count;
    const windows = this.inBar[bar];
    for (const w of windows) {
      if (offset < w.offset || end > w.offset + w.size) continue;
      const got = w.read(offset - w.offset, count);
      if (got.length === count) return got;
      const out = new Uint8Array(count);
      out.set(got.subarray(0, count));
      return out;
    }
    const out = new Uint8Array(count);
    for (const w of windows) {
      const s = Math.max(offset, w.offset);
      const e = Math.min(end, w.offset + w.size);
      if (s < e) out.set(w.read(s - w.offset, e - s), s - offset);
    }
    return out;
  }

  /** A write to a BAR, split over its windows; bytes outside every window are ignored (the posted-write storm path). */
  write(bar: number, offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    for (const w of this.inBar[bar]) {
      const s = Math.max(offset, w.offset);
      const e = Math.min(end, w.offset + w.size);
      if (s < e) w.write(s - w.offset, data.subarray(s - offset, e - offset));
    }
  }

  /** What sits where, by name: each window, and each named register inside it. */
  layout(): BarLayoutEntry[] {
    return this.inBar.flatMap((ws, region) => ws.flatMap((w) => [
      { region, offset: w.offset, size: w.size, name: w.name, register: false },
      ...(w.registers?.() ?? []).map((r) => ({ region, offset: w.offset + r.offset, size: r.width, name: r.name, register: true })),
    ]));
  }

  reset(): void {
    for (const ws of this.inBar) for (const w of ws) w.reset?.();
  }
}

/** One named place in a BAR: a window, or a register of a window's register map. */
export interface BarLayoutEntry {
  region: number;
  offset: number;
  size: number;
  name: string;
  register: boolean;
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
