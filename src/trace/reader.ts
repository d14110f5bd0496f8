// readTrace: the records of a trace file, streamed. The file is read in
// chunks and decoded as it comes, so memory stays at a chunk and one record
// whatever the file's size. A writer that was killed leaves its last record
// cut short: the reader stops before it and says so (onTruncated).
import { createReadStream } from 'node:fs';
import { Unpackr } from 'msgpackr';
import { commandName, FLAG_ERROR, FLAG_NO_REPLY, MSG_TYPE_MASK, MsgType } from '../protocol/constants.ts';
import { summarise } from './summary.ts';
import { FIELDS, TRACE_FORMAT, type TraceHeader, type TraceRecord } from './format.ts';

export interface ReadOptions {
  /** Bytes per read. Default 64 KiB. */
  chunkBytes?: number;
  /** The file ends inside a record: `bytes` of it were there, from byte `offset`. */
  onTruncated?(info: { offset: number; bytes: number; records: number }): void;
}

export class TraceFormatError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'TraceFormatError';
  }
}

/** Longest record we accept while waiting for the rest of it (records are far smaller). */
const MAX_RECORD = 16 << 20;

export async function* readTrace(file: string, opts: ReadOptions = {}): AsyncGenerator<TraceRecord> {
  // 'auto': u64 addresses come back as numbers when exact, bigints otherwise.
  const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'number' });
  const stream = createReadStream(file, { highWaterMark: opts.chunkBytes ?? 64 << 10 });
  let fields: Record<string, readonly string[]> = FIELDS;
  let held: Buffer | null = null;
  let offset = 0; // file offset of held[0] / of the next chunk
  let count = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const buf: Buffer = held ? Buffer.concat([held, chunk]) : chunk;
      const values: unknown[] = [];
      const starts: number[] = [];
      let used = 0;
      try {
        unpackr.unpackMultiple(buf, (value: unknown, start?: number, end?: number) => {
          values.push(value);
          starts.push(offset + start!);
          used = end!;
        });
      } catch (err) {
        const e = err as { incomplete?: boolean; lastPosition?: number };
        if (!e.incomplete) throw new TraceFormatError(file, `not a trace, or corrupt at byte ${offset + used}: ${(err as Error).message}`);
        used = e.lastPosition ?? used;
      }
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (count > 0 && !(Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number')) {
          throw new TraceFormatError(file, `corrupt at byte ${starts[i]}: a record is [kind, t, ...], found ${describeValue(v)}`);
        }
        const rec = count === 0 ? header(file, v) : record(v as unknown[], fields);
        if (rec.kind === 'header') fields = { ...FIELDS, ...rec.fields };
        count++;
        yield rec;
      }
      offset += used;
      held = used < buf.length ? Buffer.from(buf.subarray(used)) : null;
      if (held && held.length > MAX_RECORD) throw new TraceFormatError(file, `a record at byte ${offset} claims more than ${MAX_RECORD} bytes`);
    }
  } finally {
    stream.destroy();
  }
  if (count === 0 && !held) throw new TraceFormatError(file, 'empty file (no trace header)');
  if (held) {
    if (count === 0) throw new TraceFormatError(file, 'the trace header is incomplete');
    opts.onTruncated?.({ offset, bytes: held.length, records: count });
  }
}

function header(file: string, v: unknown): TraceHeader {
  const h = v as Partial<TraceHeader> | null;
  if (!h || typeof h !== 'object' || h.kind !== 'header' || h.format !== TRACE_FORMAT) {
    throw new TraceFormatError(file, `not an irqlab trace (no ${TRACE_FORMAT} header)`);
  }
  return h as TraceHeader;
}

function describeValue(v: unknown): string {
  const s = JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x instanceof Uint8Array ? `<${x.length} bytes>` : x)) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}

/** [kind, t, ...fields] into a record object; absent (nil) fields are left out. Kinds this reader does not know keep their fields as `values`. */
function record(v: unknown[], fields: Record<string, readonly string[]>): TraceRecord {
  const kind = v[0] as string;
  const out: Record<string, unknown> = { kind, t: v[1] };
  const names = fields[kind];
  if (names) {
    for (let i = 0; i < names.length; i++) {
      const x = v[i + 2];
      if (x !== null && x !== undefined) out[names[i]] = x;
    }
  } else {
    out.values = v.slice(2);
  }
  if (kind === 'msg') {
    const flags = out.flags as number;
    out.commandName = commandName(out.command as number);
    out.type = (flags & MSG_TYPE_MASK) === MsgType.REPLY ? 'reply' : 'command';
    out.noReply = (flags & FLAG_NO_REPLY) !== 0;
    out.error = (flags & FLAG_ERROR) !== 0;
    out.errno ??= 0;
    // Small payloads are stored as they were sent: decode them as the recorder would have.
    const payload = out.payload;
    delete out.payload;
    out.summary = payload instanceof Uint8Array
      ? summarise({ id: out.id as number, command: out.command as number, flags, size: out.size as number, error: out.errno as number }, payload)
      : payload ?? null;
  }
  return out as unknown as TraceRecord;
}
