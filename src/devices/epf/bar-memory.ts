// A BAR backed by the endpoint's own memory, as pci-epf-test exposes BAR1-5:
// plain RAM the host reads and writes. Two inbound-mapping tricks of the 7.x
// test function change what the host reaches through it:
//  - subrange mapping: the BAR's two halves map to the memory's halves
//    swapped (BAR_SUBRANGE_SETUP), until BAR_SUBRANGE_CLEAR maps it straight;
//  - a doorbell: the BAR maps to the endpoint's MSI controller instead
//    (ENABLE_DOORBELL); a write of the doorbell data at the doorbell offset
//    rings it, everything else reaches nothing.
import type { BarWindow } from '../../pci/function.ts';

export interface Doorbell {
  offset: number;
  data: number;
  ring(): void;
}

export class BarMemory implements BarWindow {
  readonly name: string;
  readonly offset = 0;
  readonly mem: Uint8Array;
  /** BAR_SUBRANGE_SETUP: the two halves are swapped. */
  swapped = false;
  doorbell: Doorbell | undefined;

  constructor(readonly bar: number, readonly size: number) {
    this.name = `BAR${bar} memory`;
    this.mem = new Uint8Array(size);
  }

  /** Where a BAR offset lands in memory under the current mapping. */
  private at(offset: number): number {
    return this.swapped ? offset ^ (this.size / 2) : offset;
  }

  read(offset: number, length: number): Uint8Array {
    if (this.doorbell) return new Uint8Array(length);
    const out = new Uint8Array(length);
    // In runs that stay within one half: the halves may be swapped.
    for (let i = 0; i < length;) {
      const run = Math.min(length - i, this.size / 2 - ((offset + i) % (this.size / 2)));
      const from = this.at(offset + i);
      out.set(this.mem.subarray(from, from + run), i);
      i += run;
    }
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    const db = this.doorbell;
    if (db) {
      // The MSI controller takes 32-bit message writes of the data it gave out.
      if (offset === db.offset && data.length === 4 && new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true) === db.data) db.ring();
      return;
    }
    for (let i = 0; i < data.length;) {
      const run = Math.min(data.length - i, this.size / 2 - ((offset + i) % (this.size / 2)));
      this.mem.set(data.subarray(i, i + run), this.at(offset + i));
      i += run;
    }
  }

  /** BAR_SUBRANGE_SETUP: swap the halves and sign each as the host will see it. */
  splitWithSignatures(sig: (sub: number) => number): void {
    this.swapped = true;
    const half = this.size / 2;
    for (let sub = 0; sub < 2; sub++) this.mem.fill(sig(sub), this.at(sub * half), this.at(sub * half) + half);
  }

  reset(): void {
    this.mem.fill(0);
    this.swapped = false;
    this.doorbell = undefined;
  }
}
