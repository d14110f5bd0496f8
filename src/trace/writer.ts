// TraceWriter: the trace file's bounded, back-pressured output, under the
// TraceRecorder (recorder.ts), which decides what goes in.
//
// Records are packed as they happen (nothing is kept as objects) into chunks
// of chunkBytes, and chunks go to the file with one writev at a time. Memory
// is bounded: at most bufferBytes of chunks exist. When the disk cannot keep
// up and every chunk is waiting for it, records are dropped and counted, and a
// `drop` record saying how many (and since when) goes in as soon as there is
// room again; the server is never slowed down and the trace never grows in
// memory.
import { open as openFile, writev, close as closeFd } from 'node:fs';
import { promisify } from 'node:util';
import { PackWriter } from './pack.ts';

const openAsync = promisify(openFile);
const closeAsync = promisify(closeFd);

/** A msg, dma, irq or drop record's bytes besides its payload, data or detail, at most (about 50 by count). */
export const FIXED_MAX = 80;

export interface TraceWriterOptions {
  /** Most bytes of packed records held for the disk; past it records are dropped and counted. Default 4 MiB (about 50 ms of a posted-write storm). */
  bufferBytes?: number;
  /** Bytes per write. Default 64 KiB (at most half of bufferBytes). */
  chunkBytes?: number;
  /** Longest a record waits in memory before it is written, ms. Default 100. */
  flushMs?: number;
}

export interface TraceStats {
  /** Records accepted into the trace (header excluded). */
  records: number;
  /** Records dropped because the disk could not keep up (or the file failed). */
  dropped: number;
  /** Bytes handed to the file so far. */
  bytesWritten: number;
  /** Bytes of packed records waiting for the disk now (in chunks, in flight or not). */
  bufferedBytes: number;
  /** The most bufferedBytes has been. */
  peakBufferedBytes: number;
  /** Memory held in chunks now (never more than bufferBytes). */
  heldBytes: number;
  /** The bound. */
  bufferBytes: number;
}

interface Chunk {
  buf: Buffer;
  len: number;
  /** Records in it (if it is never written, they count as dropped). */
  records: number;
}

export class TraceWriter {
  private readonly pack = new PackWriter();
  readonly bufferBytes: number;
  private readonly chunkBytes: number;
  private readonly maxChunks: number;
  private readonly timer: NodeJS.Timeout;

  // Buffering: `current` takes records; sealed chunks wait in `queue`; the
  // chunks of the write in flight are in `writing`; spare buffers in `spare`.
  private current: Chunk | null = null;
  private queue: Chunk[] = [];
  private writing: Chunk[] = [];
  private spare: Buffer[] = [];
  private chunks = 0;
  private queuedBytes = 0;
  private drained: (() => void)[] = [];
  private failure: Error | undefined;

  private records = 0;
  private dropped = 0;
  private pendingDrops = 0;
  private dropsSince = 0;
  private bytesWritten = 0;
  private peakBuffered = 0;

  private constructor(private readonly fd: number, readonly file: string, opts: TraceWriterOptions) {
    this.bufferBytes = Math.max(opts.bufferBytes ?? 4 << 20, 8192);
    this.chunkBytes = Math.min(opts.chunkBytes ?? 64 << 10, this.bufferBytes >> 1);
    this.maxChunks = Math.floor(this.bufferBytes / this.chunkBytes);
    this.timer = setInterval(() => this.flush(), opts.flushMs ?? 100);
    this.timer.unref();
  }

  /** Creates (or truncates) `file`, mode 0600. */
  static async open(file: string, opts: TraceWriterOptions = {}): Promise<TraceWriter> {
    // 0600: a trace holds bytes of guest memory and device registers.
    const fd = await openAsync(file, 'w', 0o600);
    return new TraceWriter(fd, file, opts);
  }

  // ---- state -----------------------------------------------------------------

  get stats(): TraceStats {
    return {
      records: this.records,
      dropped: this.dropped,
      bytesWritten: this.bytesWritten,
      bufferedBytes: this.bufferedBytes,
      peakBufferedBytes: this.peakBuffered,
      heldBytes: this.chunks * this.chunkBytes,
      bufferBytes: this.bufferBytes,
    };
  }

  /** The write error that stopped the trace, if one did. */
  get error(): Error | undefined {
    return this.failure;
  }

  private get bufferedBytes(): number {
    return this.queuedBytes + (this.current?.len ?? 0);
  }

  // ---- packing ---------------------------------------------------------------

  /**
   * Room for a record of at most `need` bytes: a writer at the end of the
   * current chunk, or null when the record is dropped (counted here).
   */
  begin(t: number, need: number): PackWriter | null {
    if (this.failure) {
      this.dropped++;
      return null;
    }
    if (this.pendingDrops > 0 && !this.putDropRecord(t)) {
      this.pendingDrops++;
      this.dropped++;
      return null;
    }
    const c = this.room(need);
    if (!c) {
      if (this.pendingDrops === 0) this.dropsSince = t;
      this.pendingDrops++;
      this.dropped++;
      return null;
    }
    return this.pack.into(c.buf, c.len);
  }

  /** The record begin() made room for is written. */
  commit(): void {
    const c = this.current!;
    c.len = this.pack.at;
    c.records++;
    this.records++;
    const buffered = this.queuedBytes + c.len;
    if (buffered > this.peakBuffered) this.peakBuffered = buffered;
  }

  /**
   * Once there is room again: how many records went missing, and since when.
   * (Packed by hand: msgpackr's output buffer may hold the caller's record.)
   */
  private putDropRecord(t: number): boolean {
    const c = this.room(FIXED_MAX);
    if (!c) return false;
    this.pack.into(c.buf, c.len).array(4).str('drop').num(t).num(this.pendingDrops).num(this.dropsSince);
    c.len = this.pack.at;
    this.pendingDrops = 0;
    return true;
  }

  /** Copies packed bytes into the trace (the header and closing records); false when memory is at its bound. */
  append(bytes: Uint8Array): boolean {
    const c = this.room(bytes.length);
    if (!c) return false;
    c.buf.set(bytes, c.len);
    c.len += bytes.length;
    const buffered = this.queuedBytes + c.len;
    if (buffered > this.peakBuffered) this.peakBuffered = buffered;
    return true;
  }

  /** The current chunk if it has `need` bytes free, else a fresh one; null at the memory bound. */
  private room(need: number): Chunk | null {
    const c = this.current;
    if (c !== null && c.len + need <= c.buf.length) return c;
    if (c !== null) this.seal();
    return this.takeChunk(need);
  }

  private takeChunk(need: number): Chunk | null {
    if (need > this.chunkBytes) {
      // A record larger than a chunk (a long detail string): a chunk of its own, if the bound allows.
      const chunks = Math.ceil(need / this.chunkBytes);
      if (this.chunks + chunks > this.maxChunks) return null;
      this.chunks += chunks;
      return (this.current = { buf: Buffer.allocUnsafe(chunks * this.chunkBytes), len: 0, records: 0 });
    }
    const buf = this.spare.pop() ?? (this.chunks < this.maxChunks ? (this.chunks++, Buffer.allocUnsafe(this.chunkBytes)) : undefined);
    if (!buf) return null;
    return (this.current = { buf, len: 0, records: 0 });
  }

  private seal(): void {
    const c = this.current;
    if (!c) return;
    this.current = null;
    if (c.len === 0) {
      this.release(c.buf);
      return;
    }
    this.queue.push(c);
    this.queuedBytes += c.len;
    this.kick();
  }

  private release(buf: Buffer): void {
    if (buf.length === this.chunkBytes) this.spare.push(buf);
    else this.chunks -= buf.length / this.chunkBytes;
  }

  // ---- writing ---------------------------------------------------------------

  /** Seals what the current chunk holds, so it reaches the file soon. */
  private flush(): void {
    if (this.current && this.current.len > 0 && this.writing.length === 0) this.seal();
  }

  private kick(): void {
    if (this.writing.length > 0 || this.queue.length === 0) return;
    if (this.failure) {
      this.discard(this.queue.splice(0));
      return;
    }
    const batch = this.queue.splice(0);
    this.writing = batch;
    this.writeOut(batch.map((c) => c.buf.subarray(0, c.len)));
  }

  private writeOut(parts: Buffer[]): void {
    writev(this.fd, parts, (err, written) => {
      if (err) {
        this.failure = err;
        this.discard(this.writing);
        this.writing = [];
        this.discard(this.queue.splice(0));
        this.settle();
        return;
      }
      this.bytesWritten += written;
      let total = 0;
      for (const p of parts) total += p.length;
      if (written < total) {
        // A short write: the rest, from where it stopped.
        const rest: Buffer[] = [];
        let skip = written;
        for (const p of parts) {
          if (skip >= p.length) skip -= p.length;
          else {
            rest.push(p.subarray(skip));
            skip = 0;
          }
        }
        this.writeOut(rest);
        return;
      }
      for (const c of this.writing) {
        this.queuedBytes -= c.len;
        this.release(c.buf);
      }
      this.writing = [];
      if (this.queue.length > 0) this.kick();
      else this.settle();
    });
  }

  /** Chunks that will never be written (the file failed): their records count as dropped. */
  private discard(chunks: Chunk[]): void {
    for (const c of chunks) {
      this.queuedBytes -= c.len;
      this.records -= c.records;
      this.dropped += c.records;
      this.release(c.buf);
    }
  }

  private settle(): void {
    if (this.writing.length > 0 || this.queue.length > 0) return;
    for (const w of this.drained.splice(0)) w();
  }

  /** Resolves when everything sealed so far is in the file. */
  private drain(): Promise<void> {
    if (this.writing.length === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  /**
   * Writes what is buffered, a `drop` record if records went missing and the
   * `end` record packed by end(records, dropped), and closes the file. Rejects
   * if a write failed (the file then holds what was written before the
   * failure). The caller adds nothing once this is called.
   */
  async close(t: number, end: (records: number, dropped: number) => Uint8Array): Promise<void> {
    clearInterval(this.timer);
    // Wait for room: the closing records must not be dropped.
    this.seal();
    await this.drain();
    if (this.pendingDrops > 0) this.putDropRecord(t);
    this.append(end(this.records, this.dropped));
    this.seal();
    await this.drain();
    await closeAsync(this.fd);
    if (this.failure) throw new Error(`trace ${this.file}: writing failed (${this.failure.message}); ${this.dropped} records dropped`);
  }
}
