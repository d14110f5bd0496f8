// REGION_READ / REGION_WRITE / REGION_WRITE_MULTI: device region accesses.
import { Reader, Writer } from './wire.ts';
import { einval } from './errno.ts';
import { WRITE_MULTI_DATA, WRITE_MULTI_ENTRY_SIZE } from './constants.ts';

export interface RegionAccess {
  offset: bigint;
  region: number;
  count: number;
}

export interface RegionData extends RegionAccess {
  data: Uint8Array;
}

export const REGION_ACCESS_SIZE = 16;

/** REGION_READ request and REGION_WRITE reply. */
export function encodeRegionAccess(a: RegionAccess): Uint8Array {
  const out = new Uint8Array(REGION_ACCESS_SIZE);
  writeAccess(out, a);
  return out;
}

export function decodeRegionAccess(p: Uint8Array, what: string): RegionAccess {
  const r = new Reader(p, what);
  return { offset: r.u64('offset'), region: r.u32('region'), count: r.u32('count') };
}

/**
 * REGION_WRITE request and REGION_READ reply. Built in place, without a
 * Writer: this is the reply to every guest MMIO read.
 */
export function encodeRegionData(d: RegionData): Uint8Array {
  const out = new Uint8Array(REGION_ACCESS_SIZE + d.data.length);
  writeAccess(out, d);
  out.set(d.data, REGION_ACCESS_SIZE);
  return out;
}

// The fields are laid out in a scratch buffer and copied: a DataView over a
// small new array would make V8 give it an ArrayBuffer of its own (a malloc
// and a sweep for every reply).
const scratch = new DataView(new ArrayBuffer(REGION_ACCESS_SIZE));
const scratchBytes = new Uint8Array(scratch.buffer);

function writeAccess(out: Uint8Array, a: RegionAccess): void {
  scratch.setBigUint64(0, a.offset, true);
  scratch.setUint32(8, a.region, true);
  scratch.setUint32(12, a.count, true);
  out.set(scratchBytes);
}

export function decodeRegionData(p: Uint8Array, what: string): RegionData {
  const r = new Reader(p, what);
  const offset = r.u64('offset');
  const region = r.u32('region');
  const count = r.u32('count');
  if (count !== r.remaining) throw einval(`${what}: count ${count} but ${r.remaining} data bytes follow`);
  return { offset, region, count, data: r.rest() };
}

/**
 * REGION_READ requests read in place: a guest MMIO read is a round trip, and
 * nothing of the request needs to outlive the handler. wrap() points the view
 * at a payload (false when it is too short: decodeRegionAccess then says
 * precisely what is wrong); the fields are read when asked. One view is
 * reused from message to message.
 */
export class RegionAccessView {
  protected view: DataView = new DataView(new ArrayBuffer(0));
  protected bytes: Uint8Array = new Uint8Array(0);
  protected at = 0;

  wrap(p: Uint8Array): boolean {
    if (p.length < REGION_ACCESS_SIZE) return false;
    if (this.view.buffer !== p.buffer) this.view = new DataView(p.buffer);
    this.bytes = p;
    this.at = p.byteOffset;
    return true;
  }

  get offset(): bigint {
    return this.view.getBigUint64(this.at, true);
  }

  /**
   * The offset as a number, without a BigInt (this runs for every access):
   * exact below 2^53, and an offset at or above 2^53 still comes out at
   * least 2^53, past every region, so the range check refuses it the same.
   */
  get offsetNumber(): number {
    return this.view.getUint32(this.at, true) + this.view.getUint32(this.at + 4, true) * 0x1_0000_0000;
  }

  /**
   * The REGION_READ reply to this request: its offset and region as they
   * came, `data.length` as the count, then the data (copied field by field,
   * so no BigInt is made on the way).
   */
  readReply(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(REGION_ACCESS_SIZE + data.length);
    scratch.setUint32(0, this.view.getUint32(this.at, true), true);
    scratch.setUint32(4, this.view.getUint32(this.at + 4, true), true);
    scratch.setUint32(8, this.region, true);
    scratch.setUint32(12, data.length, true);
    out.set(scratchBytes);
    out.set(data, REGION_ACCESS_SIZE);
    return out;
  }

  get region(): number {
    return this.view.getUint32(this.at + 8, true);
  }

  get count(): number {
    return this.view.getUint32(this.at + 12, true);
  }
}

/**
 * REGION_WRITE requests read in place, the posted-write path (a guest can
 * send a million a second): the data is a view of the payload. wrap() is
 * false for a malformed request (decodeRegionData then says what is wrong).
 */
export class RegionWriteView extends RegionAccessView {
  override wrap(p: Uint8Array): boolean {
    return super.wrap(p) && this.count === p.length - REGION_ACCESS_SIZE;
  }

  get data(): Uint8Array {
    return this.bytes.subarray(REGION_ACCESS_SIZE);
  }
}

export interface WriteMultiEntry {
  offset: bigint;
  region: number;
  count: number;
  /** The first `count` bytes of the entry's 8-byte data field. */
  data: Uint8Array;
}

export function encodeWriteMulti(entries: WriteMultiEntry[]): Uint8Array {
  const w = new Writer(8 + entries.length * WRITE_MULTI_ENTRY_SIZE).u64(entries.length);
  const pad = new Uint8Array(WRITE_MULTI_DATA);
  for (const e of entries) {
    pad.fill(0).set(e.data.subarray(0, WRITE_MULTI_DATA));
    w.u64(e.offset).u32(e.region).u32(e.count).raw(pad);
  }
  return w.done();
}

/**
 * REGION_WRITE_MULTI requests read in place, the storm path (millions of
 * entries a second): wrap() checks the framing and says how many entries
 * there are; each entry's fields are read when asked, its data is a view of
 * the payload. One view is reused from message to message.
 */
export class WriteMultiView {
  private view: DataView = new DataView(new ArrayBuffer(0));
  private bytes: Uint8Array = new Uint8Array(0);
  private at = 0;

  /** Points at a payload and returns wr_cnt; EINVAL when wr_cnt exceeds maxEntries or disagrees with the entries present. */
  wrap(p: Uint8Array, maxEntries: number): number {
    const r = new Reader(p, 'REGION_WRITE_MULTI');
    const n = r.u64('wr_cnt');
    if (n > BigInt(maxEntries)) throw einval(`REGION_WRITE_MULTI: wr_cnt ${n} exceeds ${maxEntries}`);
    const count = Number(n);
    if (r.remaining !== count * WRITE_MULTI_ENTRY_SIZE) {
      throw einval(`REGION_WRITE_MULTI: wr_cnt ${count} needs ${count * WRITE_MULTI_ENTRY_SIZE} bytes of entries, got ${r.remaining}`);
    }
    if (this.view.buffer !== p.buffer) this.view = new DataView(p.buffer);
    this.bytes = p;
    this.at = p.byteOffset + 8;
    return count;
  }

  offset(i: number): bigint {
    return this.view.getBigUint64(this.at + i * WRITE_MULTI_ENTRY_SIZE, true);
  }

  region(i: number): number {
    return this.view.getUint32(this.at + i * WRITE_MULTI_ENTRY_SIZE + 8, true);
  }

  /** The entry's count as sent (1..8 is valid; the caller checks). */
  count(i: number): number {
    return this.view.getUint32(this.at + i * WRITE_MULTI_ENTRY_SIZE + 12, true);
  }

  /** The first min(count, 8) bytes of entry i's 8-byte data field. */
  data(i: number): Uint8Array {
    const start = 8 + i * WRITE_MULTI_ENTRY_SIZE + 16;
    return this.bytes.subarray(start, start + Math.min(this.count(i), WRITE_MULTI_DATA));
  }
}

/**
 * Entries are checked one by one when applied (a bad entry fails only from
 * there on); here only the framing: wr_cnt entries must be present.
 */
export function decodeWriteMulti(p: Uint8Array, maxEntries: number): WriteMultiEntry[] {
  const v = new WriteMultiView();
  const n = v.wrap(p, maxEntries);
  return Array.from({ length: n }, (_, i) => ({ offset: v.offset(i), region: v.region(i), count: v.count(i), data: v.data(i) }));
}

export function encodeWriteMultiReply(completed: number): Uint8Array {
  return new Writer(8).u64(completed).done();
}

export function decodeWriteMultiReply(p: Uint8Array): number {
  return new Reader(p, 'REGION_WRITE_MULTI reply').u64n('wr_cnt');
}
