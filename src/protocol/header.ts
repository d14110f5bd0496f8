// The 16-byte header in front of every vfio-user message, and the framing it
// gives a byte stream: a Reassembler turns stream bytes (arriving in any
// pieces) plus the descriptors that came with them back into messages. Its
// buffer is JS memory: a view a handler kept by mistake can go stale, never
// dangle into freed native memory. Descriptors are numbers here; whoever
// received them closes what is never delivered.
import { HEADER_SIZE, MSG_TYPE_MASK, MsgType, FLAG_ERROR } from './constants.ts';

export interface Header {
  /** Message ID, chosen by the sender of a command and echoed in its reply. */
  id: number;
  command: number;
  /** Size of the whole message, header included. */
  size: number;
  flags: number;
  /** errno of an error reply; reserved (0) otherwise. */
  error: number;
}

export function readHeader(bytes: Uint8Array, at = 0): Header {
  return headerAt(new DataView(bytes.buffer, bytes.byteOffset + at, HEADER_SIZE), 0);
}

/** The header at byte `at` of a view the caller keeps (a receive buffer: no view made per message). */
export function headerAt(v: DataView, at: number): Header {
  return {
    id: v.getUint16(at, true),
    command: v.getUint16(at + 2, true),
    size: v.getUint32(at + 4, true),
    flags: v.getUint32(at + 8, true),
    error: v.getUint32(at + 12, true),
  };
}

/** Just the message size of the header at `at` (framing: where the next message starts). */
export function messageSizeAt(v: DataView, at: number): number {
  return v.getUint32(at + 4, true);
}

/** Just the command of the header at `at` (for saying which message was bad). */
export function commandAt(v: DataView, at: number): number {
  return v.getUint16(at + 2, true);
}

export function writeHeader(bytes: Uint8Array, at: number, h: Header): void {
  writeHeaderAt(new DataView(bytes.buffer, bytes.byteOffset), at, h);
}

/** A header at `at` through a DataView the caller keeps (a buffer written message after message); `size` defaults to h.size. */
export function writeHeaderAt(v: DataView, at: number, h: Header, size = h.size): void {
  v.setUint16(at, h.id, true);
  v.setUint16(at + 2, h.command, true);
  v.setUint32(at + 4, size, true);
  v.setUint32(at + 8, h.flags, true);
  v.setUint32(at + 12, h.error, true);
}

export const isCommand = (h: Header): boolean => (h.flags & MSG_TYPE_MASK) === MsgType.COMMAND;
export const isError = (h: Header): boolean => (h.flags & FLAG_ERROR) !== 0;

/** A whole message (header + payload) in one buffer, ready for the socket. */
export function frame(id: number, command: number, flags: number, payload: Uint8Array = EMPTY, error = 0): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  writeHeader(out, 0, { id, command, size: out.length, flags, error });
  out.set(payload, HEADER_SIZE);
  return out;
}

export const EMPTY = new Uint8Array(0);

// ---- framing ---------------------------------------------------------------

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

  /** Forgets what is buffered; returns the descriptors of messages that will never be delivered (the caller closes them). */
  dispose(): number[] {
    const orphans = [...this.fdsByStart.values()].flat();
    this.fdsByStart.clear();
    this.truncated.clear();
    this.buf = new Uint8Array(0);
    this.head = this.tail = 0;
    return orphans;
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
