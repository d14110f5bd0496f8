// Turns stream bytes (arriving in any pieces) plus the descriptors that came
// with them back into messages. The buffer is JS memory: a view a handler kept
// by mistake can go stale, never dangle into freed native memory.
import { closeFds } from '../../ffi/index.ts';
import { HEADER_SIZE } from '../protocol/constants.ts';
import { headerAt, messageSizeAt, commandAt, type Header } from '../protocol/header.ts';

export class FramingError extends Error {}

export interface RawMessage {
  header: Header;
  bytes: Uint8Array;
  fds: number[];
  /** Some of its descriptors were dropped by the kernel (MSG_CTRUNC). */
  fdsTruncated: boolean;
}

const INITIAL = 64 * 1024;
/** Shared by every message that brought no descriptors; never mutated (takeFds swaps arrays). */
const NO_FDS: number[] = [];

export class Reassembler {
  private buf = new Uint8Array(INITIAL);
  private view = new DataView(this.buf.buffer);
  /** Absolute stream offset of buf[0]; descriptors are keyed by absolute message start. */
  private base = 0;
  private head = 0;
  private tail = 0;
  private readonly fdsByStart = new Map<number, number[]>();
  private readonly truncated = new Set<number>();

  constructor(private readonly maxMessageSize: number) {}

  /** Appends received bytes and records which message their descriptors belong to. */
  push(data: Uint8Array, fds: number[], ctrunc: boolean): void {
    this.reserve(data.length);
    const s = this.base + this.tail;
    this.buf.set(data, this.tail);
    this.tail += data.length;
    if (fds.length === 0 && !ctrunc) return;
    // Descriptors arrive with the first bytes of the sender's chunk that carried
    // them, and recvmsg stops at that chunk's end: they belong to the last
    // message that starts within these bytes (or to the one still in progress).
    const owner = this.lastStartWithin(s, this.base + this.tail);
    if (fds.length) {
      const list = this.fdsByStart.get(owner);
      if (list) list.push(...fds);
      else this.fdsByStart.set(owner, fds);
    }
    if (ctrunc) this.truncated.add(owner);
  }

  /** The next complete message, or null. Throws FramingError on an untrustworthy size. */
  next(): RawMessage | null {
    if (this.tail - this.head < HEADER_SIZE) return null;
    const size = this.checkedSize(this.head);
    if (this.tail - this.head < size) return null;
    const at = this.head;
    const header = headerAt(this.view, at);
    const bytes = this.buf.subarray(at, at + size);
    this.head += size;
    if (this.fdsByStart.size === 0 && this.truncated.size === 0) return { header, bytes, fds: NO_FDS, fdsTruncated: false };
    const start = this.base + at;
    const fds = this.fdsByStart.get(start) ?? [];
    this.fdsByStart.delete(start);
    return { header, bytes, fds, fdsTruncated: this.truncated.delete(start) };
  }

  /** Bytes held for a message not yet complete. */
  get buffered(): number {
    return this.tail - this.head;
  }

  /** Closes descriptors of messages that will never be delivered. */
  dispose(): void {
    for (const fds of this.fdsByStart.values()) closeFds(fds);
    this.fdsByStart.clear();
    this.truncated.clear();
    this.buf = new Uint8Array(0);
    this.head = this.tail = 0;
  }

  private checkedSize(at: number): number {
    const size = messageSizeAt(this.view, at);
    if (size < HEADER_SIZE || size > this.maxMessageSize) {
      const cmd = commandAt(this.view, at);
      throw new FramingError(`message size ${size} (command ${cmd}) is outside ${HEADER_SIZE}..${this.maxMessageSize}; the stream cannot be trusted`);
    }
    return size;
  }

  private lastStartWithin(s: number, e: number): number {
    let p = this.base + this.head;
    let owner = p;
    for (;;) {
      if (p >= s && p < e) owner = p;
      const rel = p - this.base;
      if (rel + HEADER_SIZE > this.tail) break;
      const size = messageSizeAt(this.view, rel);
      if (size < HEADER_SIZE) break; // a framing error, which next() reports
      p += size;
      if (p >= e) break;
    }
    return owner;
  }

  /** Makes room for n more bytes: drop consumed bytes first, grow if still short. */
  private reserve(n: number): void {
    if (this.tail + n <= this.buf.length) return;
    const live = this.tail - this.head;
    if (live + n <= this.buf.length && this.head > 0) {
      this.buf.copyWithin(0, this.head, this.tail);
    } else {
      let size = Math.max(this.buf.length * 2, INITIAL);
      while (size < live + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(this.head, this.tail));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    this.base += this.head;
    this.tail = live;
    this.head = 0;
  }
}
