// Configuration space as hardware keeps it: every byte has a write mask (which
// bits software may change) and a write-1-to-clear mask (status bits). Writes
// are applied byte by byte through the masks, so a write that straddles
// registers, or touches read-only fields, does what hardware does. Registers
// with side effects register hooks that run after the bytes changed.

/** Called after a software write changed (or touched) a register: old and new value. */
export type WriteHook = (old: number, now: number) => void;

interface HookEntry {
  start: number;
  width: 1 | 2 | 4;
  fn: WriteHook;
}

export class ConfigSpace {
  readonly bytes: Uint8Array;
  readonly wmask: Uint8Array;
  readonly w1cmask: Uint8Array;
  private readonly view: DataView;
  private resetImage: Uint8Array | null = null;
  private hooks: HookEntry[] = [];

  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size);
    this.wmask = new Uint8Array(size);
    this.w1cmask = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  // ---- model side: direct access, no masks ------------------------------
  u8(at: number): number { return this.bytes[at]; }
  u16(at: number): number { return this.view.getUint16(at, true); }
  u32(at: number): number { return this.view.getUint32(at, true); }
  setU8(at: number, v: number): void { this.bytes[at] = v; }
  setU16(at: number, v: number): void { this.view.setUint16(at, v, true); }
  setU32(at: number, v: number): void { this.view.setUint32(at, v >>> 0, true); }

  /** Declares which bits of a register software may write. */
  setWritable(at: number, width: 1 | 2 | 4, mask: number): void {
    for (let i = 0; i < width; i++) this.wmask[at + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Declares write-1-to-clear bits (status registers). */
  setW1c(at: number, width: 1 | 2 | 4, mask: number): void {
    for (let i = 0; i < width; i++) this.w1cmask[at + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Runs `fn` after any software write touching the register at `start`. */
  onWrite(start: number, width: 1 | 2 | 4, fn: WriteHook): void {
    this.hooks.push({ start, width, fn });
  }

  /** Freezes the current contents as the reset image. */
  seal(): void {
    this.resetImage = this.bytes.slice();
  }

  reset(): void {
    if (this.resetImage) this.bytes.set(this.resetImage);
  }

  value(at: number, width: 1 | 2 | 4): number {
    return width === 1 ? this.u8(at) : width === 2 ? this.u16(at) : this.u32(at);
  }

  // ---- software side: what the client reads and writes ------------------
  read(offset: number, length: number): Uint8Array {
    return this.bytes.slice(offset, offset + length);
  }

  write(offset: number, data: Uint8Array): void {
    const end = Math.min(offset + data.length, this.size);
    const old = this.bytes.slice(offset, end);
    for (let at = offset, i = 0; at < end; at++, i++) {
      const v = data[i];
      const w = this.wmask[at];
      const c = this.w1cmask[at];
      this.bytes[at] = ((this.bytes[at] & ~w) | (v & w)) & ~(v & c);
    }
    for (const h of this.hooks) {
      if (h.start >= end || offset >= h.start + h.width) continue;
      let before = 0;
      for (let i = h.width - 1; i >= 0; i--) {
        const at = h.start + i;
        before = before * 256 + (at >= offset && at < end ? old[at - offset] : this.bytes[at]);
      }
      h.fn(before >>> 0, this.value(h.start, h.width));
    }
  }
}
