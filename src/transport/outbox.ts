// The messages a connection has to send, gathered in one buffer until the
// burst that produced them ends and they leave in one send. Replies are
// written straight into it (header through a DataView kept for the buffer's
// life, payload copied after it): no frame is allocated per reply, and no
// small on-heap array has its ArrayBuffer materialised for a DataView, which
// costs V8 a malloc and a sweep per message.
import { HEADER_SIZE } from '../protocol/constants.ts';
import type { Header } from '../protocol/header.ts';

const INITIAL = 64 * 1024;
/** A buffer grown past this for one big burst is not kept for the next. */
const KEEP_AT_MOST = 1 << 20;

export class Outbox {
  private buf = new Uint8Array(INITIAL);
  private view = new DataView(this.buf.buffer);
  private len = 0;

  /** Bytes waiting. */
  get size(): number {
    return this.len;
  }

  /** Appends a message made of these header fields and payload. */
  message(h: Header, payload: Uint8Array): void {
    const at = this.reserve(HEADER_SIZE + payload.length);
    const v = this.view;
    v.setUint16(at, h.id, true);
    v.setUint16(at + 2, h.command, true);
    v.setUint32(at + 4, HEADER_SIZE + payload.length, true);
    v.setUint32(at + 8, h.flags, true);
    v.setUint32(at + 12, h.error, true);
    if (payload.length) this.buf.set(payload, at + HEADER_SIZE);
  }

  /** Appends bytes that are already a framed message. */
  raw(bytes: Uint8Array): void {
    const at = this.reserve(bytes.length); // first: it may replace this.buf
    this.buf.set(bytes, at);
  }

  /** Everything waiting, and empties the box: valid until the next append. */
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.len);
    this.len = 0;
    if (this.buf.length > KEEP_AT_MOST) {
      this.buf = new Uint8Array(INITIAL);
      this.view = new DataView(this.buf.buffer);
    }
    return out;
  }

  private reserve(n: number): number {
    if (this.len + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.len + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.len;
    this.len += n;
    return at;
  }
}
