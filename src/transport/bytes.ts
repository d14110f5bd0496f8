// A growable byte buffer with a DataView kept for the buffer's life: the
// outbox batches replies in one, and the bench's Node floor reassembles input
// and batches output with the same.
export class Bytes {
  buf: Uint8Array;
  view: DataView;
  /** Bytes in use, from the start. */
  len = 0;

  constructor(initial = 64 * 1024) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  /** Makes room for n more bytes (doubling), counts them as used and returns where they start. */
  reserve(n: number): number {
    if (this.len + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.len + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.len));
      this.replace(next);
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  /** Starts over with a fresh buffer of `size` bytes (one grown for a big burst is not kept). */
  shrink(size: number): void {
    this.replace(new Uint8Array(size));
  }

  private replace(next: Uint8Array): void {
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}
