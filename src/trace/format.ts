// The trace file: a stream of MessagePack values, one per record, written by
// TraceRecorder and read back by readTrace. The first value is the header, a
// map that says what the rest is; every other record is an array
// [kind, t, ...fields] whose field names the header lists under `fields`, so
// the file stays readable with any MessagePack decoder while a record costs a
// few tens of bytes (maps would repeat every key in every record).
//
// t is microseconds since the trace started (process.hrtime.bigint).
import { readFileSync } from 'node:fs';
import type { IrqKind, IrqOutcome } from '../irq/events.ts';

export const TRACE_FORMAT = 'irqlab-trace';
export const TRACE_VERSION = 1;

/**
 * On-disk field order of each record kind, after [kind, t]. Only append to
 * these. A msg record's `payload` is the payload's bytes when it is at most
 * SMALL_PAYLOAD (96) bytes, its summary (a map) when larger, nil when empty;
 * readTrace turns either into `summary`.
 */
export const FIELDS = {
  msg: ['dir', 'id', 'command', 'flags', 'errno', 'size', 'fds', 'payload'],
  irq: ['irq', 'index', 'outcome', 'address', 'data', 'detail', 'pasid'],
  dma: ['op', 'id', 'address', 'count', 'value', 'data'],
  fault: ['rule', 'action', 'target', 'detail'],
  reset: ['reason'],
  'guest-error': ['message', 'guestError'],
  session: ['event', 'pid', 'uid', 'detail'],
  drop: ['count', 'since'],
  end: ['records', 'dropped'],
  posted: ['event', 'region', 'offset', 'count', 'value', 'data', 'detail', 'heldMs'],
} as const;

export type RecordKind = keyof typeof FIELDS;
export const RECORD_KINDS = Object.keys(FIELDS) as RecordKind[];

/** Numbers that fit a double exactly stay numbers; larger u64s are bigints. */
export type U64 = number | bigint;

/**
 * What a message's payload said, decoded with the protocol's codec table.
 * Fields by command: region accesses carry region/offset/count, DMA carries
 * address/count; the accessed bytes come as `value` (1, 2, 4 or 8 bytes,
 * little-endian, as the register sees them) or `data` (other sizes up to 64
 * bytes); larger transfers carry only their count.
 */
export interface Summary {
  region?: number;
  offset?: U64;
  count?: number;
  value?: U64;
  data?: Uint8Array;
  address?: U64;
  size?: U64;
  index?: number;
  start?: number;
  flags?: number;
  argsz?: number;
  major?: number;
  minor?: number;
  capabilities?: Record<string, unknown>;
  regions?: number;
  irqs?: number;
  /** REGION_WRITE_MULTI: the first entries as [region, offset, count, value]. */
  writes?: [number, U64, number, U64 | Uint8Array][];
  /** The payload did not decode: why. */
  malformed?: string;
}

export interface TraceHeader {
  kind: 'header';
  t: 0;
  format: typeof TRACE_FORMAT;
  version: number;
  /** irqlab's package version. */
  irqlab: string;
  /** Wall-clock start, ISO 8601, and the same in ms since the epoch. */
  startedAt: string;
  startedAtMs: number;
  device?: TraceDevice;
  /** Bytes the recorder may hold for the disk before it drops records. */
  bufferBytes: number;
  fields: Record<string, readonly string[]>;
}

export interface TraceDevice {
  name?: string;
  vendor?: number;
  device?: number;
  subsystemVendor?: number;
  subsystem?: number;
  revision?: number;
  classCode?: number;
}

export interface MsgRecord {
  kind: 'msg';
  t: number;
  /** 'in': the client sent it to irqlab; 'out': irqlab sent it to the client. */
  dir: 'in' | 'out';
  id: number;
  command: number;
  commandName: string;
  flags: number;
  type: 'command' | 'reply';
  noReply: boolean;
  error: boolean;
  errno: number;
  /** Whole message, header included. */
  size: number;
  fds: number;
  summary: Summary | null;
}

export interface IrqRecord {
  kind: 'irq';
  t: number;
  irq: IrqKind;
  index: number;
  outcome: IrqOutcome;
  address?: U64;
  data?: number;
  detail?: string;
  /** An IMS slot's PASID (kept by the device; the message itself cannot carry it). */
  pasid?: number;
}

/** A posted write the device held back (late posted writes), landing late, or lost to a reset. */
export interface PostedRecord {
  kind: 'posted';
  t: number;
  event: 'held' | 'applied' | 'dropped';
  region: number;
  offset: number;
  count: number;
  /** The bytes written: a value (1, 2, 4, 8 bytes, little-endian) or the bytes. */
  value?: U64;
  data?: Uint8Array;
  /** held: why; applied: what let it through; dropped: why. */
  detail: string;
  heldMs?: number;
}

/** A DMA access the device made: a DMA_READ/DMA_WRITE it sent, or an access to shared memory. */
export interface DmaRecord {
  kind: 'dma';
  t: number;
  op: 'read' | 'write';
  /** The message id, to find the reply; absent for shared memory the device accessed in place. */
  id?: number;
  address: U64;
  count: number;
  value?: U64;
  data?: Uint8Array;
}

export interface FaultRecord {
  kind: 'fault';
  t: number;
  rule: string;
  action: string;
  target?: string;
  detail?: string;
}

export interface ResetRecord {
  kind: 'reset';
  t: number;
  reason: string;
}

export interface GuestErrorRecord {
  kind: 'guest-error';
  t: number;
  message: string;
  /** The guest error's kind (src/device/guest-errors.ts); absent in traces of irqlab before 0.1. */
  guestError?: string;
}

export interface SessionRecord {
  kind: 'session';
  t: number;
  event: 'connect' | 'disconnect' | 'refused';
  pid: number;
  uid?: number;
  detail?: string;
}

/** Records the disk could not take: `count` of them, from `since` (us) to t. */
export interface DropRecord {
  kind: 'drop';
  t: number;
  count: number;
  since: number;
}

/** Written by close(): the file is complete. */
export interface EndRecord {
  kind: 'end';
  t: number;
  records: number;
  dropped: number;
}

export type TraceRecord =
  | TraceHeader | MsgRecord | IrqRecord | DmaRecord | FaultRecord | ResetRecord
  | GuestErrorRecord | SessionRecord | DropRecord | EndRecord | PostedRecord;

let version: string | undefined;
/** irqlab's version, from package.json. */
export function irqlabVersion(): string {
  if (version === undefined) {
    try {
      version = String(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
