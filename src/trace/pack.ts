// MessagePack for the records written once per message: a writer over the
// recorder's chunk that emits the fixed shape of a `msg`, `irq` or `dma`
// record directly. msgpackr packs everything else (the header, rare records,
// summaries of large messages) and reads every record back; its general pack()
// costs about 350 ns per record in setup and type dispatch, which at the
// posted-write rate is most of the time a message takes, while these records
// are a handful of small integers, short strings and a few bytes.
// test/trace/pack.test.ts checks that msgpackr decodes what this writes.

export class PackWriter {
  buf: Buffer = Buffer.alloc(0);
  at = 0;

  /** Writes from `at` in `buf`. */
  into(buf: Buffer, at: number): this {
    this.buf = buf;
    this.at = at;
    return this;
  }

  /** Array header; n < 16 (fixarray). */
  array(n: number): this {
    this.buf[this.at++] = 0x90 | n;
    return this;
  }

  nil(): this {
    this.buf[this.at++] = 0xc0;
    return this;
  }

  /** A number: unsigned, signed or float64 as it needs. */
  num(v: number): this {
    const b = this.buf;
    if (Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
      if (v < 0x80) b[this.at++] = v;
      else if (v < 0x100) {
        b[this.at++] = 0xcc;
        b[this.at++] = v;
      } else if (v < 0x10000) {
        b[this.at++] = 0xcd;
        b.writeUInt16BE(v, this.at);
        this.at += 2;
      } else if (v < 0x100000000) {
        b[this.at++] = 0xce;
        b.writeUInt32BE(v, this.at);
        this.at += 4;
      } else {
        b[this.at++] = 0xcf;
        b.writeBigUInt64BE(BigInt(v), this.at);
        this.at += 8;
      }
    } else if (Number.isInteger(v) && v < 0 && v >= -0x80000000) {
      b[this.at++] = 0xd2;
      b.writeInt32BE(v, this.at);
      this.at += 4;
    } else {
      b[this.at++] = 0xcb;
      b.writeDoubleBE(v, this.at);
      this.at += 8;
    }
    return this;
  }

  /** An unsigned 64-bit value (addresses). */
  u64(v: number | bigint): this {
    if (typeof v === 'number') return this.num(v);
    if (v >= 0n && v <= 0xffffffffn) return this.num(Number(v));
    this.buf[this.at++] = 0xcf;
    this.buf.writeBigUInt64BE(BigInt.asUintN(64, v), this.at);
    this.at += 8;
    return this;
  }

  /** Bytes needed at most for str(s). */
  static strMax(s: string): number {
    return 5 + s.length * 3;
  }

  str(s: string): this {
    const n = s.length;
    const b = this.buf;
    if (n < 32) {
      // Short ASCII (kinds, outcomes, directions) without an encoder call.
      let ascii = true;
      for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) { ascii = false; break; }
      if (ascii) {
        b[this.at++] = 0xa0 | n;
        for (let i = 0; i < n; i++) b[this.at++] = s.charCodeAt(i);
        return this;
      }
    }
    const len = Buffer.byteLength(s, 'utf8');
    if (len < 32) b[this.at++] = 0xa0 | len;
    else if (len < 0x100) {
      b[this.at++] = 0xd9;
      b[this.at++] = len;
    } else if (len < 0x10000) {
      b[this.at++] = 0xda;
      b.writeUInt16BE(len, this.at);
      this.at += 2;
    } else {
      b[this.at++] = 0xdb;
      b.writeUInt32BE(len, this.at);
      this.at += 4;
    }
    this.at += b.write(s, this.at, 'utf8');
    return this;
  }

  /** Binary data (bin 8/16/32). */
  bin(bytes: Uint8Array): this {
    const n = bytes.length;
    const b = this.buf;
    if (n < 0x100) {
      b[this.at++] = 0xc4;
      b[this.at++] = n;
    } else if (n < 0x10000) {
      b[this.at++] = 0xc5;
      b.writeUInt16BE(n, this.at);
      this.at += 2;
    } else {
      b[this.at++] = 0xc6;
      b.writeUInt32BE(n, this.at);
      this.at += 4;
    }
    b.set(bytes, this.at);
    this.at += n;
    return this;
  }

  /** Bytes that are already MessagePack (a value msgpackr packed). */
  raw(bytes: Uint8Array): this {
    this.buf.set(bytes, this.at);
    this.at += bytes.length;
    return this;
  }
}
