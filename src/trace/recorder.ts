// TraceRecorder: everything that happened on a served device, in a file.
//
//   const rec = await TraceRecorder.open('run.trace');
//   const server = new VfioUserServer(device, { socketPath, tap: rec.tap });
//   rec.attach({ server, device });
//   ...
//   await rec.close();
//
// Records go into a TraceWriter (writer.ts): bounded memory, records dropped
// and counted rather than the server slowed down when the disk falls behind.
//
// The tap runs on the server's thread for every message, so a message costs
// one clock read and a copy: its header fields and, up to SMALL_PAYLOAD bytes,
// the payload itself, which the reader decodes with the codec table (the same
// summarise() the recorder uses for larger payloads, whose data is never kept).
import { Packr, RESET_BUFFER_MODE } from 'msgpackr';
import { Command, MSG_TYPE_MASK, MsgType } from '../protocol/constants.ts';
import type { Header } from '../protocol/header.ts';
import type { Tap } from '../transport/connection.ts';
import type { DeviceModel } from '../device/model.ts';
import type { IrqEvent } from '../irq/events.ts';
import type { PostedWriteEvent } from '../device/posted-writes.ts';
import type { PciIds } from '../pci/function.ts';
import type { VfioUserServer } from '../server/server.ts';
import type { Session } from '../server/session.ts';
import type { PeerCred } from '../../ffi/index.ts';
import { summarise, accessed, u64 } from './summary.ts';
import { PackWriter } from './pack.ts';
import { TraceWriter, FIXED_MAX, type TraceStats, type TraceWriterOptions } from './writer.ts';
import { FIELDS, TRACE_FORMAT, TRACE_VERSION, irqlabVersion, type TraceDevice, type TraceHeader } from './format.ts';

export type { TraceStats } from './writer.ts';

/** Payloads up to this size go into the trace as they are, decoded when read. */
export const SMALL_PAYLOAD = 96;
/** bufferBytes, chunkBytes and flushMs: see TraceWriterOptions. */
export interface TraceOptions extends TraceWriterOptions {
  /** For the header (ids); attach() can give it later. */
  device?: DeviceModel;
  /** The device's name in the header (e.g. "ims-queue"); default the device's class name. */
  deviceName?: string;
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

const enum State { Open, Closing, Closed }

export class TraceRecorder {
  private readonly packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });
  private readonly t0: bigint;
  private readonly startedAtMs: number;
  private state = State.Open;
  private headerDone = false;
  private device: DeviceModel | undefined;
  readonly file: string;

  private readonly undo: (() => void)[] = [];
  private readonly pids = new WeakMap<Session, number>();
  /** The tap and the chains made with it. */
  private readonly ours = new WeakSet<Tap>();
  private readonly attached = new WeakSet<object>();

  private constructor(private readonly writer: TraceWriter, private readonly opts: TraceOptions) {
    this.t0 = process.hrtime.bigint();
    this.startedAtMs = Date.now();
    this.file = writer.file;
    this.device = opts.device;
    this.ours.add(this.tap);
    if (this.device) this.writeHeader();
  }

  /** Creates (or truncates) `file`, mode 0600 (TraceWriter.open), and starts the clock. */
  static async open(file: string, opts: TraceOptions = {}): Promise<TraceRecorder> {
    return new TraceRecorder(await TraceWriter.open(file, opts), opts);
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
      this.writer.commit();
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
    this.writer.commit();
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
    this.writer.commit();
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
      const onGuestError = (message: string, kind?: string) => this.recordGuestError(String(message), kind);
      const onPosted = (e: PostedWriteEvent) => this.recordPosted(e);
      emitter.on('irq', onIrq);
      emitter.on('reset', onReset);
      emitter.on('guest-error', onGuestError);
      emitter.on('posted-write', onPosted);
      this.undo.push(() => {
        emitter.off('irq', onIrq);
        emitter.off('reset', onReset);
        emitter.off('guest-error', onGuestError);
        emitter.off('posted-write', onPosted);
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
    w.array(9).str('irq').num(t).str(e.kind).num(e.index).str(e.outcome);
    if (e.address !== undefined) w.u64(u64(e.address));
    else w.nil();
    if (e.data !== undefined) w.num(e.data);
    else w.nil();
    if (e.detail !== undefined) w.str(e.detail);
    else w.nil();
    if (e.pasid !== undefined) w.num(e.pasid);
    else w.nil();
    this.writer.commit();
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

  recordGuestError(message: string, kind?: string): void {
    this.put(['guest-error', this.now(), message, kind ?? null]);
  }

  /** A posted write held back, landing late, or dropped (PciFunction 'posted-write'). */
  recordPosted(e: PostedWriteEvent): void {
    const a = accessed(e.data);
    this.put(['posted', this.now(), e.event, e.region, e.offset, e.data.length, a.value ?? null, a.data ?? null, e.detail, e.heldMs ?? null]);
  }

  // ---- state -----------------------------------------------------------------

  get stats(): TraceStats {
    return this.writer.stats;
  }

  /** The write error that stopped the trace, if one did. */
  get error(): Error | undefined {
    return this.writer.error;
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
      bufferBytes: this.writer.bufferBytes,
      fields: FIELDS,
    };
    const device = describeDevice(this.device, this.opts.deviceName);
    if (device) header.device = device;
    // The first record of an empty buffer: it always fits.
    this.writer.append(this.packr.pack(header, RESET_BUFFER_MODE));
  }

  /** Packs a rare record with msgpackr, or counts it as dropped when the buffer is full. */
  private put(record: unknown[]): void {
    if (this.state !== State.Open) return;
    if (!this.headerDone) this.writeHeader();
    const bytes = this.packr.pack(record, RESET_BUFFER_MODE);
    const w = this.begin(record[1] as number, bytes.length);
    if (!w) return;
    w.raw(bytes);
    this.writer.commit();
  }

  /** Room for a record (TraceWriter.begin), while recording. */
  private begin(t: number, need: number): PackWriter | null {
    if (this.state !== State.Open) return null;
    if (!this.headerDone) this.writeHeader();
    return this.writer.begin(t, need);
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
    if (!this.headerDone) this.writeHeader();
    this.state = State.Closing;
    const t = this.now();
    try {
      await this.writer.close(t, (records, dropped) => this.packr.pack(['end', t, records, dropped], RESET_BUFFER_MODE));
    } finally {
      this.state = State.Closed;
    }
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
