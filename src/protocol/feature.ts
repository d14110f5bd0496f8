// DEVICE_FEATURE and the migration data messages. irqlab devices do not
// migrate; the codecs exist so every message of the spec can be decoded and
// answered precisely.
import { Reader, Writer } from './wire.ts';

export interface DeviceFeature {
  argsz: number;
  flags: number;
  data: Uint8Array;
}

export function encodeDeviceFeature(f: DeviceFeature): Uint8Array {
  return new Writer(8 + f.data.length).u32(f.argsz).u32(f.flags).raw(f.data).done();
}

export function decodeDeviceFeature(p: Uint8Array): DeviceFeature {
  const r = new Reader(p, 'DEVICE_FEATURE');
  return { argsz: r.u32('argsz'), flags: r.u32('flags'), data: r.rest() };
}

export interface MigData {
  argsz: number;
  size: number;
  data: Uint8Array;
}

export function encodeMigData(m: MigData): Uint8Array {
  return new Writer(8 + m.data.length).u32(m.argsz).u32(m.size).raw(m.data).done();
}

export function decodeMigData(p: Uint8Array, what: string): MigData {
  const r = new Reader(p, what);
  return { argsz: r.u32('argsz'), size: r.u32('size'), data: r.rest() };
}
