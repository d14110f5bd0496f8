// What a connection sends: messages gathered in one buffer while a burst of
// commands is handled (or until the current tick's microtasks run) and sent
// in one send. Replies are written straight into it (header through a
// DataView kept for the buffer's life, payload copied after it): no frame is
// allocated per reply, and no small on-heap array has its ArrayBuffer
// materialised for a DataView, which costs V8 a malloc and a sweep per
// message. Messages with descriptors, and big ones, go out on their own,
// after what waits.
import type { SocketStream } from '../../ffi/index.ts';
import { HEADER_SIZE } from '../protocol/constants.ts';
import { writeHeaderAt, type Header } from '../protocol/header.ts';
import { Bytes } from './bytes.ts';

const INITIAL = 64 * 1024;
/** A buffer grown past this for one big burst is not kept for the next. */
const KEEP_AT_MOST = 1 << 20;
/** A message this big goes to the socket as it is, not copied into the buffer. */
const SEND_DIRECT = 64 * 1024;

export class Outbox {
  private readonly b = new Bytes(INITIAL);
  /** A burst is being handled, or a flush is scheduled: what is queued waits. */
  private holding = false;

  /** `onError`: the stream failed (the peer is gone); the connection closes. */
  constructor(private readonly stream: SocketStream, private readonly onError: (err: Error) => void) {}

  /** Bytes waiting. */
  get size(): number {
    return this.b.len;
  }

  /** A burst begins: what is queued waits for flush() at its end. */
  hold(): void {
    this.holding = true;
  }

  /** Queues a message made of these header fields (its size is computed) and payload. */
  message(h: Header, payload: Uint8Array): void {
    const size = HEADER_SIZE + payload.length;
    const at = this.b.reserve(size);
    writeHeaderAt(this.b.view, at, h, size);
    if (payload.length) this.b.buf.set(payload, at + HEADER_SIZE);
    this.schedule();
  }

  /** Queues a framed message; with descriptors (they travel with its first byte) or when big, sends it now, after what waits. */
  send(bytes: Uint8Array, fds: readonly number[] = []): void {
    if (fds.length === 0 && bytes.length < SEND_DIRECT) {
      const at = this.b.reserve(bytes.length); // first: it may replace this.b.buf
      this.b.buf.set(bytes, at);
      this.schedule();
      return;
    }
    this.flush(true);
    this.write(bytes, fds);
  }

  /** Sends what waits. `keepHolding`: the burst goes on. */
  flush(keepHolding = false): void {
    this.holding = keepHolding && this.holding;
    if (this.b.len === 0) return;
    const out = this.b.buf.subarray(0, this.b.len);
    this.b.len = 0;
    if (this.b.buf.length > KEEP_AT_MOST) this.b.shrink(INITIAL);
    this.write(out); // the stream copies what the socket does not take now
  }

  private write(bytes: Uint8Array, fds: readonly number[] = []): void {
    if (this.stream.isClosed) return;
    try {
      this.stream.send(bytes, fds);
    } catch (err) {
      this.onError(err as Error);
    }
  }

  /** Outside a burst, messages produced in the same tick (interrupts a script fires in a loop) leave together. */
  private schedule(): void {
    if (this.holding) return;
    this.holding = true;
    queueMicrotask(() => this.flush());
  }
}
