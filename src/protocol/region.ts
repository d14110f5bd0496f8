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
  return new Writer(REGION_ACCESS_SIZE).u64(a.offset).u32(a.region).u32(a.count).done();
}

export function decodeRegionAccess(p: Uint8Array, what: string): RegionAccess {
  const r = new Reader(p, what);
  return { offset: r.u64('offset'), region: r.u32('region'), count: r.u32('count') };
}

/** REGION_WRITE request and REGION_READ reply. */
export function encodeRegionData(d: RegionData): Uint8Array {
  return new Writer(REGION_ACCESS_SIZE + d.data.length).u64(d.offset).u32(d.region).u32(d.count).raw(d.data).done();
}

export function decodeRegionData(p: Uint8Array, what: string): RegionData {
  const r = new Reader(p, what);
  const offset = r.u64('offset');
  const region = r.u32('region');
  const count = r.u32('count');
  if (count !== r.remaining) throw einval(`${what}: count ${count} but ${r.remaining} data bytes follow`);
  return { offset, region, count, data: r.rest() };
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

/** Checks a REGION_WRITE_MULTI payload's framing and returns wr_cnt (entries read in place). */
export function decodeWriteMultiHeader(p: Uint8Array, maxEntries: number): number {
  const r = new Reader(p, 'REGION_WRITE_MULTI');
  const n = r.u64('wr_cnt');
  if (n > BigInt(maxEntries)) throw einval(`REGION_WRITE_MULTI: wr_cnt ${n} exceeds ${maxEntries}`);
  const count = Number(n);
  if (r.remaining !== count * WRITE_MULTI_ENTRY_SIZE) {
    throw einval(`REGION_WRITE_MULTI: wr_cnt ${count} needs ${count * WRITE_MULTI_ENTRY_SIZE} bytes of entries, got ${r.remaining}`);
  }
  return count;
}

/**
 * Entries are checked one by one when applied (a bad entry fails only from
 * there on); here only the framing: wr_cnt entries must be present.
 */
export function decodeWriteMulti(p: Uint8Array, maxEntries: number): WriteMultiEntry[] {
  const count = decodeWriteMultiHeader(p, maxEntries);
  const r = new Reader(p.subarray(8), 'REGION_WRITE_MULTI');
  const entries: WriteMultiEntry[] = [];
  for (let i = 0; i < count; i++) {
    const offset = r.u64('offset');
    const region = r.u32('region');
    const cnt = r.u32('count');
    const data = r.bytesOf(WRITE_MULTI_DATA, 'data');
    entries.push({ offset, region, count: cnt, data: data.subarray(0, Math.min(cnt, WRITE_MULTI_DATA)) });
  }
  return entries;
}

export function encodeWriteMultiReply(completed: number): Uint8Array {
  return new Writer(8).u64(completed).done();
}

export function decodeWriteMultiReply(p: Uint8Array): number {
  return new Reader(p, 'REGION_WRITE_MULTI reply').u64n('wr_cnt');
}
