// TraceRecorder: everything that happened on a served device, in a file.
//
//   const rec = await TraceRecorder.open('run.trace');
//   const server = new VfioUserServer(device, { socketPath, tap: rec.tap });
//   rec.attach({ server, device });
//   ...
//   await rec.close();
//
// Records are packed as they happen (nothing is kept as objects) into chunks
// of chunkBytes, and chunks go to the file with one writev at a time. Memory
// is bounded: at most bufferBytes of chunks exist. When the disk cannot keep
// up and every chunk is waiting for it, records are dropped and counted, and a
// `drop` record saying how many (and since when) goes in as soon as there is
// room again; the server is never slowed down and the trace never grows in
// memory.
//
// The tap runs on the server's thread for every message, so a message costs
// one clock read and a copy: its header fields and, up to SMALL_PAYLOAD bytes,
// the payload itself, which the reader decodes with the codec table (the same
// summarise() the recorder uses for larger payloads, whose data is never kept).
import { open as openFile, writev, close as closeFd } from 'node:fs';
import { promisify } from 'node:util';
import { Packr, RESET_BUFFER_MODE } from 'msgpackr';
import { Command, MSG_TYPE_MASK, MsgType } from '../protocol/constants.ts';
import type { Header } from '../protocol/header.ts';
import type { Tap } from '../transport/connection.ts';
import type { DeviceModel } from '../device/model.ts';
import type { IrqEvent } from '../irq/events.ts';
import type { PciIds } from '../pci/function.ts';
import type { VfioUserServer } from '../server/server.ts';
import type { Session } from '../server/session.ts';
import type { PeerCred } from '../../ffi/index.ts';
import { summarise, accessed, u64 } from './summary.ts';
import { PackWriter } from './pack.ts';
import { FIELDS, TRACE_FORMAT, TRACE_VERSION, irqlabVersion, type TraceDevice, type TraceHeader } from './format.ts';

const openAsync = promisify(openFile);
const closeAsync = promisify(closeFd);

/** Payloads up to this size go into the trace as they are, decoded when read. */
export const SMALL_PAYLOAD = 96;
/** A msg, dma, irq or drop record's bytes besides its payload, data or detail, at most (about 50 by count). */
const FIXED_MAX = 80;

export interface TraceOptions {
  /** Most bytes of packed records held for the disk; past it records are dropped and counted. Default 4 MiB (about 50 ms of a posted-write storm). */
  bufferBytes?: number;
  /** Bytes per write. Default 64 KiB (at most half of bufferBytes). */
  chunkBytes?: number;
  /** Longest a record waits in memory before it is written, ms. Default 100. */
  flushMs?: number;
  /** For the header (ids); attach() can give it later. */
  device?: DeviceModel;
  /** The device's name in the header (e.g. "ims-queue"); default the device's class name. */
  deviceName?: string;
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

/** What a fault engine reports when a rule acts. */
export interface FaultInput {
  rule: string | number;
  action: string | object;
  target?: string;
  detail?: string;
  /** The rule's id, when the engine names its rules. */
  id?: string;
}

interface Emitter {
  on(event: string, fn: (...args: any[]) => void): unknown;
  off(event: string, fn: (...args: any[]) => void): unknown;
}

export interface AttachTargets {
  /** Sessions (connect/disconnect/refused) and, on each new session's connection, the tap. */
  server?: VfioUserServer;
  /** Interrupts, resets and guest errors (a PciFunction); default the server's device. */
  device?: DeviceModel;
  /**
   * A fault engine emitting 'fault' events. Default: the device's own
   * (PciFunction.faults); false for none (then call recordFault() yourself).
   */
  faults?: Emitter | false;
}

interface Chunk {
  buf: Buffer;
  len: number;
  /** Records in it (if it is never written, they count as dropped). */
  records: number;
}

const enum State { Open, Closing, Closed }

export class TraceRecorder {
  private readonly packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });
  private readonly writer = new PackWriter();
  private readonly t0: bigint;
  private readonly startedAtMs: number;
  private readonly bufferBytes: number;
  private readonly chunkBytes: number;
  private readonly maxChunks: number;
  private readonly timer: NodeJS.Timeout;
  private state = State.Open;
  private headerDone = false;
  private device: DeviceModel | undefined;

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

  private readonly undo: (() => void)[] = [];
  private readonly pids = new WeakMap<Session, number>();
  /** The tap and the chains made with it. */
  private readonly ours = new WeakSet<Tap>();
  private readonly attached = new WeakSet<object>();

  private constructor(private readonly fd: number, readonly file: string, private readonly opts: TraceOptions) {
    this.t0 = process.hrtime.bigint();
    this.startedAtMs = Date.now();
    this.bufferBytes = Math.max(opts.bufferBytes ?? 4 << 20, 8192);
    this.chunkBytes = Math.min(opts.chunkBytes ?? 64 << 10, this.bufferBytes >> 1);
    this.maxChunks = Math.floor(this.bufferBytes / this.chunkBytes);
    this.device = opts.device;
    this.ours.add(this.tap);
    this.timer = setInterval(() => this.flush(), opts.flushMs ?? 100);
    this.timer.unref();
    if (this.device) this.writeHeader();
  }

  /** Creates (or truncates) `file`, mode 0600, and starts the clock. */
  static async open(file: string, opts: TraceOptions = {}): Promise<TraceRecorder> {
    // 0600: a trace holds bytes of guest memory and device registers.
    const fd = await openAsync(file, 'w', 0o600);
    return new TraceRecorder(fd, file, opts);
  }

  /** Microseconds since the trace started. */
  now(): number {
    return Math.trunc(Number(process.hrtime.bigint() - this.t0) / 1000);
  }

  // ---- sources ---------------------------------------------------------------

  /**
   * The transport tap: pass it as ServerOptions.tap (or let attach() put it
   * on each session's connection). Every vfio-user message in or out becomes
   * a `msg` record; DMA_READ/DMA_WRITE the server sends also a `dma` record.
   */
  readonly tap: Tap = (dir, header, payload, fdCount) => {
    if (this.state !== State.Open) return;
    const t = this.now();
    const n = payload.length;
    if (!this.headerDone) this.writeHeader();
    // Packed before begin(), which packs nothing with msgpackr (one shared output buffer).
    const summary = n > SMALL_PAYLOAD ? this.packr.pack(summarise(header, payload), RESET_BUFFER_MODE) : null;
    const w = this.begin(t, FIXED_MAX + (summary ? summary.length : n));
    if (w) {
      w.array(10).str('msg').num(t).str(dir).num(header.id).num(header.command).num(header.flags).num(header.error).num(header.size).num(fdCount);
      if (summary) w.raw(summary);
      else if (n > 0) w.bin(payload);
      else w.nil();
      this.commit();
    }
    if (dir === 'out' && (header.command === Command.DMA_WRITE || header.command === Command.DMA_READ) &&
      (header.flags & MSG_TYPE_MASK) === MsgType.COMMAND) {
      this.recordDma(t, header, payload);
    }
  };

  /** The device's own DMA, from a DMA_READ/DMA_WRITE it sent (decoded with the codec table). */
  private recordDma(t: number, header: Header, payload: Uint8Array): void {
    const s = summarise(header, payload);
    if (!s || s.malformed !== undefined) return;
    const op = header.command === Command.DMA_WRITE ? 'write' : 'read';
    const w = this.begin(t, FIXED_MAX + (s.data?.length ?? 0));
    if (!w) return;
    w.array(8).str('dma').num(t).str(op).num(header.id).u64(s.address ?? 0).num(s.count ?? 0);
    if (s.value !== undefined) w.u64(s.value);
    else w.nil();
    if (s.data) w.bin(s.data);
    else w.nil();
    this.commit();
  }

  /**
   * A DMA access that sent no message: the device reading or writing memory
   * the client shared with a descriptor (DmaSpace.readLocal/writeLocal). A
   * `dma` record without a message id.
   */
  recordDmaAccess(op: 'read' | 'write', address: bigint, data: Uint8Array): void {
    if (this.state !== State.Open) return;
    const t = this.now();
    const a = accessed(data);
    const w = this.begin(t, FIXED_MAX + (a.data?.length ?? 0));
    if (!w) return;
    w.array(8).str('dma').num(t).str(op).nil().u64(u64(address)).num(data.length);
    if (a.value !== undefined) w.u64(a.value);
    else w.nil();
    if (a.data) w.bin(a.data);
    else w.nil();
    this.commit();
  }

  /** A tap that calls `other` and then records: for a server that already has a tap. */
  chainTap(other: Tap | undefined): Tap {
    if (!other || this.ours.has(other)) return other ?? this.tap;
    const mine = this.tap;
    const chained = (dir: 'in' | 'out', header: Header, payload: Uint8Array, fds: number) => {
      other(dir, header, payload, fds);
      mine(dir, header, payload, fds);
    };
    this.ours.add(chained);
    return chained;
  }

  /**
   * Listens to a server (sessions; the tap on each new session's connection
   * unless it is already there), a device (interrupts, resets, guest errors)
   * and a fault engine. close() stops listening.
   */
  attach(targets: AttachTargets): this {
    const device = targets.device ?? targets.server?.device;
    if (device && !this.device) this.device = device;
    if (!this.headerDone) this.writeHeader();
    // Each source once, however often attach() names it.
    const fresh = <T extends object>(x: T | undefined): T | undefined => {
      if (!x || this.attached.has(x)) return undefined;
      this.attached.add(x);
      return x;
    };
    const server = fresh(targets.server);
    if (server) {
      const onConnect = (session: Session, peer: PeerCred) => {
        this.tapConnection(session.conn);
        this.pids.set(session, peer.pid);
        this.put(['session', this.now(), 'connect', peer.pid, peer.uid, null]);
      };
      const onDisconnect = (session: Session, reason: Error | undefined) => {
        this.put(['session', this.now(), 'disconnect', this.pids.get(session) ?? 0, null, reason?.message ?? null]);
      };
      const onRefused = (peer: PeerCred, why: string) => {
        this.put(['session', this.now(), 'refused', peer.pid, peer.uid, why]);
      };
      server.on('connect', onConnect);
      server.on('disconnect', onDisconnect);
      server.on('refused', onRefused);
      this.undo.push(() => {
        server.off('connect', onConnect);
        server.off('disconnect', onDisconnect);
        server.off('refused', onRefused);
      });
      if (server.session) this.tapConnection(server.session.conn);
    }
    const emitter = fresh(emitterOf(device));
    if (emitter) {
      const onIrq = (e: IrqEvent) => this.recordIrq(e);
      const onReset = (reason: string) => this.put(['reset', this.now(), String(reason)]);
      const onGuestError = (message: string) => this.put(['guest-error', this.now(), String(message)]);
      emitter.on('irq', onIrq);
      emitter.on('reset', onReset);
      emitter.on('guest-error', onGuestError);
      this.undo.push(() => {
        emitter.off('irq', onIrq);
        emitter.off('reset', onReset);
        emitter.off('guest-error', onGuestError);
      });
    }
    const engine = fresh(targets.faults === false ? undefined : targets.faults ?? emitterOf((device as { faults?: unknown } | undefined)?.faults));
    if (engine) {
      const onFault = (f: FaultInput) => this.recordFault(f);
      engine.on('fault', onFault);
      this.undo.push(() => engine.off('fault', onFault));
    }
    return this;
  }

  /** Puts the tap on a connection, unless it (or a chain holding it) is there already. */
  private tapConnection(conn: { tap: Tap | undefined }): void {
    if (conn.tap && this.ours.has(conn.tap)) return;
    conn.tap = conn.tap ? this.chainTap(conn.tap) : this.tap;
  }

  recordIrq(e: IrqEvent): void {
    if (this.state !== State.Open) return;
    const t = this.now();
    const w = this.begin(t, FIXED_MAX + (e.detail ? PackWriter.strMax(e.detail) : 0));
    if (!w) return;
    w.array(8).str('irq').num(t).str(e.kind).num(e.index).str(e.outcome);
    if (e.address !== undefined) w.u64(u64(e.address));
    else w.nil();
    if (e.data !== undefined) w.num(e.data);
    else w.nil();
    if (e.detail !== undefined) w.str(e.detail);
    else w.nil();
    this.commit();
  }

  /** A fault rule acted (attach() calls this for the device's fault engine; call it for any other). */
  recordFault(f: FaultInput): void {
    if (this.state !== State.Open) return;
    const rule = f.id !== undefined && String(f.rule) !== f.id ? `${f.id}: ${f.rule}` : String(f.rule);
    const action = typeof f.action === 'string' ? f.action : JSON.stringify(f.action, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
    this.put(['fault', this.now(), rule, action, f.target ?? null, f.detail ?? null]);
  }

  recordReset(reason: string): void {
    this.put(['reset', this.now(), reason]);
  }

  recordGuestError(message: string): void {
    this.put(['guest-error', this.now(), message]);
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

  private writeHeader(): void {
    this.headerDone = true;
    const header: TraceHeader = {
      kind: 'header',
      t: 0,
      format: TRACE_FORMAT,
      version: TRACE_VERSION,
      irqlab: irqlabVersion(),
      startedAt: new Date(this.startedAtMs).toISOString(),
      startedAtMs: this.startedAtMs,
      bufferBytes: this.bufferBytes,
      fields: FIELDS,
    };
    const device = describeDevice(this.device, this.opts.deviceName);
    if (device) header.device = device;
    // The first record of an empty buffer: it always fits.
    this.append(this.packr.pack(header, RESET_BUFFER_MODE));
  }

  /** Packs a rare record with msgpackr, or counts it as dropped when the buffer is full. */
  private put(record: unknown[]): void {
    if (this.state !== State.Open) return;
    if (!this.headerDone) this.writeHeader();
    const bytes = this.packr.pack(record, RESET_BUFFER_MODE);
    const w = this.begin(record[1] as number, bytes.length);
    if (!w) return;
    w.raw(bytes);
    this.commit();
  }

  /**
   * Room for a record of at most `need` bytes: a writer at the end of the
   * current chunk, or null when the record is dropped (counted here).
   */
  private begin(t: number, need: number): PackWriter | null {
    if (this.state !== State.Open) return null;
    if (this.failure) {
      this.dropped++;
      return null;
    }
    if (!this.headerDone) this.writeHeader();
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
    return this.writer.into(c.buf, c.len);
  }

  /** The record begin() made room for is written. */
  private commit(): void {
    const c = this.current!;
    c.len = this.writer.at;
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
    this.writer.into(c.buf, c.len).array(4).str('drop').num(t).num(this.pendingDrops).num(this.dropsSince);
    c.len = this.writer.at;
    this.pendingDrops = 0;
    return true;
  }

  /** Copies packed bytes into the trace (the header and closing records); false when memory is at its bound. */
  private append(bytes: Uint8Array): boolean {
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
   * Stops recording, writes what is buffered, a `drop` record if records went
   * missing and an `end` record, and closes the file. Rejects if a write
   * failed (the file then holds what was written before the failure).
   */
  async close(): Promise<void> {
    if (this.state !== State.Open) return this.closing;
    this.closing = this.finish();
    return this.closing;
  }

  private closing: Promise<void> = Promise.resolve();

  private async finish(): Promise<void> {
    for (const u of this.undo.splice(0)) u();
    clearInterval(this.timer);
    if (!this.headerDone) this.writeHeader();
    this.state = State.Closing;
    const t = this.now();
    // Wait for room: the closing records must not be dropped.
    this.seal();
    await this.drain();
    if (this.pendingDrops > 0) this.putDropRecord(t);
    this.append(this.packr.pack(['end', t, this.records, this.dropped], RESET_BUFFER_MODE));
    this.seal();
    await this.drain();
    this.state = State.Closed;
    await closeAsync(this.fd);
    if (this.failure) throw new Error(`trace ${this.file}: writing failed (${this.failure.message}); ${this.dropped} records dropped`);
  }
}

function emitterOf(x: unknown): Emitter | undefined {
  const e = x as Partial<Emitter> | undefined;
  return e && typeof e.on === 'function' && typeof e.off === 'function' ? (e as Emitter) : undefined;
}

function describeDevice(device: DeviceModel | undefined, name: string | undefined): TraceDevice | undefined {
  if (!device && !name) return undefined;
  const out: TraceDevice = {};
  const n = name ?? device?.constructor?.name;
  if (n) out.name = n;
  const ids = (device as { spec?: { ids?: PciIds } } | undefined)?.spec?.ids;
  if (ids) {
    out.vendor = ids.vendor;
    out.device = ids.device;
    out.subsystemVendor = ids.subsystemVendor ?? ids.vendor;
    out.subsystem = ids.subsystem ?? 0;
    out.revision = ids.revision ?? 0;
    out.classCode = ids.classCode;
  }
  return out;
}
