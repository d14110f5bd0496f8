// The live control channel: msgpack values on a UNIX stream socket, one
// request and one response per exchange, matched by id.
import { Packr, Unpackr } from 'msgpackr';

export interface ControlRequest {
  id: number;
  op: string;
  args?: Record<string, unknown>;
}

export type ControlResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

// Plain maps (no record extension) so other languages' msgpack readers can talk to it.
export const packr = new Packr({ useRecords: false, mapsAsObjects: true });
export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** BigInts become strings (hex for addresses): msgpack int64 is not universal. */
export function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

/**
 * Splits a byte stream into msgpack values. msgpack is self-delimiting, so a
 * value cut by a read boundary is simply retried once more bytes arrive.
 */
export class MsgpackStream {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxBytes = 1 << 20) {}

  push(chunk: Buffer): unknown[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.pending.length > this.maxBytes) throw new Error(`control message larger than ${this.maxBytes} bytes`);
    const out: unknown[] = [];
    try {
      unpackr.unpackMultiple(this.pending, (v: unknown) => {
        out.push(v);
      });
      this.pending = Buffer.alloc(0);
    } catch (err) {
      const e = err as { incomplete?: boolean; lastPosition?: number };
      if (!e.incomplete) throw err;
      // Values before the cut went to the callback; keep the rest for the next read.
      this.pending = this.pending.subarray(e.lastPosition ?? 0);
    }
    return out;
  }
}
