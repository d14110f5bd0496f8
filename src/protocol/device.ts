// Device, region and irq information; SET_IRQS. Layouts follow struct
// vfio_device_info, vfio_region_info, vfio_irq_info and vfio_irq_set.
import { Reader, Writer } from './wire.ts';
import { einval } from './errno.ts';
import { IRQ_SET_ACTION_TYPE_MASK, IRQ_SET_DATA_BOOL, IRQ_SET_DATA_TYPE_MASK } from './constants.ts';

export interface DeviceInfo {
  argsz: number;
  flags: number;
  numRegions: number;
  numIrqs: number;
}

export const DEVICE_INFO_SIZE = 16;

export function encodeDeviceInfo(d: DeviceInfo): Uint8Array {
  return new Writer(DEVICE_INFO_SIZE).u32(d.argsz).u32(d.flags).u32(d.numRegions).u32(d.numIrqs).done();
}

export function decodeDeviceInfo(p: Uint8Array, what = 'DEVICE_GET_INFO'): DeviceInfo {
  const r = new Reader(p, what);
  const argsz = r.u32('argsz');
  // A request may carry only argsz; the rest "must be zero" and is not needed.
  if (r.remaining === 0) return { argsz, flags: 0, numRegions: 0, numIrqs: 0 };
  return { argsz, flags: r.u32('flags'), numRegions: r.u32('num_regions'), numIrqs: r.u32('num_irqs') };
}

export interface RegionInfo {
  argsz: number;
  flags: number;
  index: number;
  capOffset: number;
  size: bigint;
  offset: bigint;
  /** Region capability chain (reply only), offsets relative to the structure start. */
  caps?: Uint8Array;
}

export const REGION_INFO_SIZE = 32;

export function encodeRegionInfo(i: RegionInfo): Uint8Array {
  const caps = i.caps ?? new Uint8Array(0);
  return new Writer(REGION_INFO_SIZE + caps.length)
    .u32(i.argsz).u32(i.flags).u32(i.index).u32(i.capOffset).u64(i.size).u64(i.offset).raw(caps).done();
}

export function decodeRegionInfo(p: Uint8Array, what = 'DEVICE_GET_REGION_INFO'): RegionInfo {
  const r = new Reader(p, what);
  const info: RegionInfo = {
    argsz: r.u32('argsz'), flags: r.u32('flags'), index: r.u32('index'), capOffset: r.u32('cap_offset'),
    size: r.u64('size'), offset: r.u64('offset'),
  };
  if (r.remaining > 0) info.caps = r.rest();
  return info;
}

export interface IoFdsInfo {
  argsz: number;
  flags: number;
  index: number;
  count: number;
  /** Raw sub-region array (reply only). */
  subRegions?: Uint8Array;
}

export function encodeIoFds(i: IoFdsInfo): Uint8Array {
  const sub = i.subRegions ?? new Uint8Array(0);
  return new Writer(16 + sub.length).u32(i.argsz).u32(i.flags).u32(i.index).u32(i.count).raw(sub).done();
}

export function decodeIoFds(p: Uint8Array): IoFdsInfo {
  const r = new Reader(p, 'DEVICE_GET_REGION_IO_FDS');
  const i: IoFdsInfo = { argsz: r.u32('argsz'), flags: r.u32('flags'), index: r.u32('index'), count: r.u32('count') };
  if (r.remaining > 0) i.subRegions = r.rest();
  return i;
}

export interface IrqInfo {
  argsz: number;
  flags: number;
  index: number;
  count: number;
}

export const IRQ_INFO_SIZE = 16;

export function encodeIrqInfo(i: IrqInfo): Uint8Array {
  return new Writer(IRQ_INFO_SIZE).u32(i.argsz).u32(i.flags).u32(i.index).u32(i.count).done();
}

export function decodeIrqInfo(p: Uint8Array, what = 'DEVICE_GET_IRQ_INFO'): IrqInfo {
  const r = new Reader(p, what);
  return { argsz: r.u32('argsz'), flags: r.u32('flags'), index: r.u32('index'), count: r.u32('count') };
}

export interface IrqSet {
  argsz: number;
  flags: number;
  index: number;
  start: number;
  count: number;
  /** DATA_BOOL: one byte per sub-index. Eventfds travel as SCM_RIGHTS, not here. */
  data?: Uint8Array;
}

export const IRQ_SET_SIZE = 20;

export function encodeIrqSet(s: IrqSet): Uint8Array {
  const data = s.data ?? new Uint8Array(0);
  return new Writer(IRQ_SET_SIZE + data.length).u32(s.argsz).u32(s.flags).u32(s.index).u32(s.start).u32(s.count).raw(data).done();
}

const popcount = (v: number) => {
  let n = 0;
  for (; v; v &= v - 1) n++;
  return n;
};

/** Decodes and checks the structure of SET_IRQS (flags, sizes); ranges are the device's business. */
export function decodeIrqSet(p: Uint8Array): IrqSet {
  const r = new Reader(p, 'DEVICE_SET_IRQS');
  const s: IrqSet = { argsz: r.u32('argsz'), flags: r.u32('flags'), index: r.u32('index'), start: r.u32('start'), count: r.u32('count') };
  const known = IRQ_SET_DATA_TYPE_MASK | IRQ_SET_ACTION_TYPE_MASK;
  if (s.flags & ~known) throw einval(`DEVICE_SET_IRQS: unknown flags 0x${(s.flags & ~known).toString(16)}`);
  if (popcount(s.flags & IRQ_SET_DATA_TYPE_MASK) !== 1) throw einval(`DEVICE_SET_IRQS: flags 0x${s.flags.toString(16)} must name exactly one DATA type`);
  if (popcount(s.flags & IRQ_SET_ACTION_TYPE_MASK) !== 1) throw einval(`DEVICE_SET_IRQS: flags 0x${s.flags.toString(16)} must name exactly one ACTION`);
  if (s.start + s.count > 0xffffffff) throw einval(`DEVICE_SET_IRQS: start ${s.start} + count ${s.count} overflows`);
  if (s.flags & IRQ_SET_DATA_BOOL) {
    s.data = r.bytesOf(s.count, `${s.count} DATA_BOOL bytes`);
  }
  if (s.argsz < IRQ_SET_SIZE) throw einval(`DEVICE_SET_IRQS: argsz ${s.argsz} is smaller than the ${IRQ_SET_SIZE}-byte structure`);
  return s;
}
