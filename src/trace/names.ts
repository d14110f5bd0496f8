// Register names in a trace: the header carries the device's layout (its
// BAR windows and the registers of its register maps, PciFunction.layout()),
// so the timeline says DOORBELL where the message says BAR0+0xc.
import type { TraceHeader, TraceLayoutEntry } from './format.ts';

interface Named {
  offset: number;
  size: number;
  name: string;
}

export class RegisterNames {
  /** Per region: registers and windows, by offset. */
  private readonly registers = new Map<number, Named[]>();
  private readonly windows = new Map<number, Named[]>();

  constructor(layout: readonly TraceLayoutEntry[] = []) {
    for (const e of layout) {
      if (!Array.isArray(e) || e.length < 5) continue; // a layout from a newer writer: ignore what is not understood
      const [region, offset, size, name, register] = e;
      const into = register ? this.registers : this.windows;
      let list = into.get(region);
      if (!list) into.set(region, (list = []));
      list.push({ offset, size, name });
    }
    for (const m of [this.registers, this.windows]) for (const l of m.values()) l.sort((a, b) => a.offset - b.offset);
  }

  static fromHeader(h: TraceHeader | undefined): RegisterNames {
    return new RegisterNames(h?.layout);
  }

  /**
   * A name for an access at region+offset: "DOORBELL" (the register), "STATUS+0x2"
   * (inside it), "MSI-X table+0x1c" (a window without registers), or undefined.
   */
  name(region: number, offset: number): string | undefined {
    const reg = find(this.registers.get(region), offset);
    if (reg) return offset === reg.offset ? reg.name : `${reg.name}+0x${(offset - reg.offset).toString(16)}`;
    const w = find(this.windows.get(region), offset);
    if (w && w.name !== 'registers') return `${w.name}+0x${(offset - w.offset).toString(16)}`;
    return undefined;
  }
}

function find(list: Named[] | undefined, offset: number): Named | undefined {
  if (!list) return undefined;
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const e = list[mid];
    if (offset < e.offset) hi = mid - 1;
    else if (offset >= e.offset + e.size) lo = mid + 1;
    else return e;
  }
  return undefined;
}
