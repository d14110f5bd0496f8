// A device's registers declared as data: offset, width, access type, reset
// value, optional hooks. Accesses are checked once against the map's rules
// (allowed sizes, alignment), then applied byte by byte, so partial and
// straddling accesses behave like hardware with byte enables: a read returns
// the bytes asked for; a write updates only the bytes written, through each
// register's access rules, and each touched register's hook sees its merged
// new value.

export type Access = 'RO' | 'RW' | 'W1C' | 'WO';

export interface RegisterSpec {
  name: string;
  offset: number;
  /** Bytes: 1, 2, 4 or 8 (default 4). */
  width?: 1 | 2 | 4 | 8;
  access?: Access;
  reset?: number | bigint;
  /** Bits software may change (RW) or clear (W1C); default all. */
  mask?: number | bigint;
  /** Replicates the register `count` times, `stride` bytes apart (queues...). */
  count?: number;
  stride?: number;
  /** Computes the value on read (status derived from device state...). */
  read?: (index: number) => number | bigint;
  /** Side effect after a write; `value` is the register's new value (for WO: the value written). */
  write?: (value: number | bigint, index: number, old: number | bigint) => void;
}

export interface AccessRules {
  /** Allowed access sizes in bytes (default 1..8). */
  min?: 1 | 2 | 4 | 8;
  max?: 1 | 2 | 4 | 8;
  /** Accesses must be naturally aligned (default true). */
  aligned?: boolean;
}

export interface RegisterMapSpec {
  size: number;
  access?: AccessRules;
  /** What reads of offsets with no register return (default zeros). */
  unmapped?: 'zero' | 'ones';
  registers: RegisterSpec[];
}

interface Reg {
  name: string;
  offset: number;
  width: 1 | 2 | 4 | 8;
  access: Access;
  reset: bigint;
  mask: bigint;
  /** mask as a number, for the whole-register fast path (width <= 4). */
  maskNum: number;
  index: number;
  spec: RegisterSpec;
}

/** A bad access from software: a guest error, never thrown at the client. */
export type GuestErrorLog = (kind: 'access-size' | 'read-only', message: string) => void;

export class RegisterMap {
  readonly size: number;
  private readonly regs: Reg[] = [];
  private readonly owner: Int32Array;
  private readonly store: Uint8Array;
  private readonly view: DataView;
  private readonly byName = new Map<string, Reg>();
  private readonly rules: Required<AccessRules>;
  private readonly fill: number;
  guestError: GuestErrorLog = () => {};

  constructor(spec: RegisterMapSpec) {
    this.size = spec.size;
    this.owner = new Int32Array(spec.size).fill(-1);
    this.store = new Uint8Array(spec.size);
    this.view = new DataView(this.store.buffer);
    this.rules = { min: spec.access?.min ?? 1, max: spec.access?.max ?? 8, aligned: spec.access?.aligned ?? true };
    this.fill = spec.unmapped === 'ones' ? 0xff : 0;
    for (const s of spec.registers) this.declare(s);
    this.reset();
  }

  private declare(s: RegisterSpec): void {
    const width = s.width ?? 4;
    const count = s.count ?? 1;
    const stride = s.stride ?? width;
    const full = (1n << BigInt(8 * width)) - 1n;
    for (let i = 0; i < count; i++) {
      const offset = s.offset + i * stride;
      if (offset % width) throw new Error(`register ${s.name}: offset 0x${offset.toString(16)} is not aligned to its width ${width}`);
      if (offset + width > this.size) throw new Error(`register ${s.name}: 0x${offset.toString(16)}+${width} is outside the ${this.size}-byte map`);
      const name = count > 1 ? `${s.name}[${i}]` : s.name;
      const reg: Reg = {
        name, offset, width, access: s.access ?? 'RW', reset: BigInt(s.reset ?? 0) & full,
        mask: s.mask === undefined ? full : BigInt(s.mask) & full, maskNum: 0, index: i, spec: s,
      };
      reg.maskNum = width <= 4 ? Number(reg.mask) : 0;
      for (let b = 0; b < width; b++) {
        const prev = this.owner[offset + b];
        if (prev >= 0) throw new Error(`register ${name} overlaps ${this.regs[prev].name} at 0x${(offset + b).toString(16)}`);
        this.owner[offset + b] = this.regs.length;
      }
      this.regs.push(reg);
      this.byName.set(name, reg);
    }
  }

  reset(): void {
    this.store.fill(0);
    for (const r of this.regs) this.put(r, r.reset);
  }

  private get(r: Reg): bigint {
    switch (r.width) {
      case 1: return BigInt(this.store[r.offset]);
      case 2: return BigInt(this.view.getUint16(r.offset, true));
      case 4: return BigInt(this.view.getUint32(r.offset, true));
      default: return this.view.getBigUint64(r.offset, true);
    }
  }

  private put(r: Reg, v: bigint): void {
    switch (r.width) {
      case 1: this.store[r.offset] = Number(v & 0xffn); break;
      case 2: this.view.setUint16(r.offset, Number(v & 0xffffn), true); break;
      case 4: this.view.setUint32(r.offset, Number(v & 0xffffffffn), true); break;
      default: this.view.setBigUint64(r.offset, v, true);
    }
  }

  private out(r: Reg, v: bigint): number | bigint {
    return r.width === 8 ? v : Number(v);
  }

  /** The value software would read (hooks included), by register name. */
  value(name: string): number | bigint {
    const r = this.reg(name);
    return this.out(r, this.current(r));
  }

  /** Sets a register's stored value from the device side (no access rules, no hooks). */
  set(name: string, v: number | bigint): void {
    const r = this.reg(name);
    this.put(r, BigInt(v) & ((1n << BigInt(8 * r.width)) - 1n));
  }

  private reg(name: string): Reg {
    const r = this.byName.get(name);
    if (!r) throw new Error(`no register named ${name}`);
    return r;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  private current(r: Reg): bigint {
    if (r.access === 'WO') return 0n;
    if (r.spec.read) {
      const full = (1n << BigInt(8 * r.width)) - 1n;
      return BigInt(r.spec.read(r.index)) & full;
    }
    return this.get(r);
  }

  private accessOk(offset: number, length: number, write: boolean): boolean {
    const { min, max, aligned } = this.rules;
    const sizeOk = length >= min && length <= max && (length & (length - 1)) === 0;
    if (sizeOk && (!aligned || offset % length === 0)) return true;
    this.guestError('access-size', `${write ? 'write' : 'read'} of ${length} bytes at 0x${offset.toString(16)} breaks the access rules (sizes ${min}..${max}${aligned ? ', naturally aligned' : ''}); ${write ? 'ignored' : 'returning all-ones'}`);
    return false;
  }

  /** The register accessed whole, if that is what this access is (the common case). */
  private whole(offset: number, length: number): Reg | undefined {
    const idx = this.owner[offset];
    if (idx < 0) return undefined;
    const r = this.regs[idx];
    return r.offset === offset && r.width === length && length <= 4 ? r : undefined;
  }

  private getNum(r: Reg): number {
    return r.width === 1 ? this.store[r.offset] : r.width === 2 ? this.view.getUint16(r.offset, true) : this.view.getUint32(r.offset, true);
  }

  private putNum(r: Reg, v: number): void {
    if (r.width === 1) this.store[r.offset] = v;
    else if (r.width === 2) this.view.setUint16(r.offset, v, true);
    else this.view.setUint32(r.offset, v >>> 0, true);
  }

  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    if (!this.accessOk(offset, length, false)) return out.fill(0xff);
    const r = this.whole(offset, length);
    if (r) {
      const v = r.access === 'WO' ? 0 : r.spec.read ? Number(r.spec.read(r.index)) : this.getNum(r);
      for (let i = 0; i < length; i++) out[i] = (v >>> (8 * i)) & 0xff;
      return out;
    }
    let at = 0;
    while (at < length) {
      const idx = this.owner[offset + at];
      if (idx < 0) {
        out[at++] = this.fill;
        continue;
      }
      const r = this.regs[idx];
      const v = this.current(r);
      for (; at < length && offset + at < r.offset + r.width; at++) {
        out[at] = Number((v >> BigInt(8 * (offset + at - r.offset))) & 0xffn);
      }
    }
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    if (!this.accessOk(offset, data.length, true)) return;
    const w = this.whole(offset, data.length);
    if (w) {
      let v = 0;
      for (let i = data.length - 1; i >= 0; i--) v = v * 256 + data[i];
      this.applyWhole(w, v);
      return;
    }
    let at = 0;
    while (at < data.length) {
      const idx = this.owner[offset + at];
      if (idx < 0) {
        at++;
        continue;
      }
      const r = this.regs[idx];
      // Merge the written bytes into the register (byte enables).
      let written = 0n;
      let enables = 0n;
      for (; at < data.length && offset + at < r.offset + r.width; at++) {
        const shift = BigInt(8 * (offset + at - r.offset));
        written |= BigInt(data[at]) << shift;
        enables |= 0xffn << shift;
      }
      this.apply(r, written, enables);
    }
  }

  /** A write of a whole register of at most 4 bytes: plain numbers, no BigInt. */
  private applyWhole(r: Reg, written: number): void {
    const m = r.maskNum;
    switch (r.access) {
      case 'RO':
        this.readOnly(r, written);
        return;
      case 'WO':
        r.spec.write?.((written & m) >>> 0, r.index, 0);
        return;
      default: {
        const old = this.getNum(r);
        const now = (r.access === 'RW' ? (old & ~m) | (written & m) : old & ~(written & m)) >>> 0;
        this.putNum(r, now);
        r.spec.write?.(now, r.index, old);
      }
    }
  }

  private readOnly(r: Reg, written: number | bigint): void {
    this.guestError('read-only', `write of 0x${written.toString(16)} to ${r.name} (0x${r.offset.toString(16)}), a read-only register; ignored`);
  }

  private apply(r: Reg, written: bigint, enables: bigint): void {
    const old = this.get(r);
    const m = r.mask & enables;
    let now = old;
    switch (r.access) {
      case 'RO':
        this.readOnly(r, written & enables);
        return;
      case 'RW':
        now = (old & ~m) | (written & m);
        break;
      case 'W1C':
        now = old & ~(written & m);
        break;
      case 'WO':
        // Nothing is stored; the hook gets the bytes written.
        r.spec.write?.(this.out(r, written & m), r.index, this.out(r, 0n));
        return;
    }
    this.put(r, now);
    r.spec.write?.(this.out(r, now), r.index, this.out(r, old));
  }
}
