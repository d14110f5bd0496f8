// Bounds-checked little-endian reading and writing of message payloads. Every
// read past the end becomes EINVAL naming the field, so a short payload from a
// peer is a clear error reply, never an exception from a DataView.
import { einval } from './errno.ts';

export class Reader {
  private readonly view: DataView;
  private at = 0;

  constructor(readonly bytes: Uint8Array, readonly what: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get offset(): number {
    return this.at;
  }

  get remaining(): number {
    return this.bytes.length - this.at;
  }

  private need(n: number, field: string): number {
    if (this.at + n > this.bytes.length) {
      throw einval(`${this.what}: payload is ${this.bytes.length} bytes, too short for ${field} at offset ${this.at}`);
    }
    const at = this.at;
    this.at += n;
    return at;
  }

  u16(field: string): number {
    return this.view.getUint16(this.need(2, field), true);
  }

  u32(field: string): number {
    return this.view.getUint32(this.need(4, field), true);
  }

  u64(field: string): bigint {
    return this.view.getBigUint64(this.need(8, field), true);
  }

  /** A u64 that must fit a JS number exactly (sizes, counts, offsets into our own buffers). */
  u64n(field: string): number {
    const v = this.u64(field);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw einval(`${this.what}: ${field} ${v} is out of range`);
    return Number(v);
  }

  bytesOf(n: number, field: string): Uint8Array {
    const at = this.need(n, field);
    return this.bytes.subarray(at, at + n);
  }

  rest(): Uint8Array {
    const at = this.at;
    this.at = this.bytes.length;
    return this.bytes.subarray(at);
  }
}

export class Writer {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private at = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  u16(v: number): this {
    this.view.setUint16(this.at, v, true);
    this.at += 2;
    return this;
  }

  u32(v: number): this {
    this.view.setUint32(this.at, v >>> 0, true);
    this.at += 4;
    return this;
  }

  u64(v: bigint | number): this {
    this.view.setBigUint64(this.at, BigInt(v), true);
    this.at += 8;
    return this;
  }

  raw(data: Uint8Array): this {
    this.bytes.set(data, this.at);
    this.at += data.length;
    return this;
  }

  done(): Uint8Array {
    return this.at === this.bytes.length ? this.bytes : this.bytes.subarray(0, this.at);
  }
}
