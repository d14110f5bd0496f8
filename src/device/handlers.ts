// Device-level commands: information, region access, reset, features.
import {
  Errno, VfioError, FLAG_NO_REPLY,
  decodeDeviceInfo, encodeDeviceInfo, DEVICE_INFO_SIZE,
  decodeRegionInfo, encodeRegionInfo, REGION_INFO_SIZE, REGION_INFO_FLAG_CAPS,
  REGION_INFO_FLAG_READ, REGION_INFO_FLAG_WRITE,
  decodeIoFds, encodeIoFds,
  decodeRegionAccess, decodeRegionData, encodeRegionAccess, RegionAccessView, RegionWriteView, type RegionAccess,
  WriteMultiView, encodeWriteMultiReply, WRITE_MULTI_MAX, WRITE_MULTI_DATA,
  decodeDeviceFeature, decodeMigData, DEVICE_FEATURE_MASK,
} from '../protocol/index.ts';
import type { Message } from '../transport/connection.ts';
import type { HandlerContext } from './model.ts';

export function handleDeviceGetInfo(ctx: HandlerContext, msg: Message): Uint8Array {
  const req = decodeDeviceInfo(msg.payload);
  if (req.argsz < DEVICE_INFO_SIZE) throw new VfioError(Errno.EINVAL, `DEVICE_GET_INFO: argsz ${req.argsz} < ${DEVICE_INFO_SIZE}`);
  const d = ctx.device;
  return encodeDeviceInfo({ argsz: DEVICE_INFO_SIZE, flags: d.deviceFlags, numRegions: d.numRegions, numIrqs: d.numIrqs });
}

function checkRegionIndex(ctx: HandlerContext, index: number, what: string): void {
  if (index >= ctx.device.numRegions) throw new VfioError(Errno.EINVAL, `${what}: region ${index} does not exist (the device has ${ctx.device.numRegions})`);
}

export function handleGetRegionInfo(ctx: HandlerContext, msg: Message): Uint8Array {
  const req = decodeRegionInfo(msg.payload);
  if (req.argsz < REGION_INFO_SIZE) throw new VfioError(Errno.EINVAL, `DEVICE_GET_REGION_INFO: argsz ${req.argsz} < ${REGION_INFO_SIZE}`);
  checkRegionIndex(ctx, req.index, 'DEVICE_GET_REGION_INFO');
  const info = ctx.device.regionInfo(req.index);
  const caps = info.caps;
  const full = REGION_INFO_SIZE + (caps?.length ?? 0);
  // Like the vfio ioctl: when the caller's buffer is too small for the
  // capability chain, argsz says how much is needed and the chain is left out.
  const fits = caps !== undefined && req.argsz >= full;
  return encodeRegionInfo({
    argsz: full,
    flags: info.flags | (caps ? REGION_INFO_FLAG_CAPS : 0),
    index: req.index,
    capOffset: fits ? REGION_INFO_SIZE : 0,
    size: BigInt(info.size),
    offset: 0n,
    caps: fits ? caps : undefined,
  });
}

export function handleGetRegionIoFds(ctx: HandlerContext, msg: Message): Uint8Array {
  const req = decodeIoFds(msg.payload);
  if (req.argsz < 16) throw new VfioError(Errno.EINVAL, `DEVICE_GET_REGION_IO_FDS: argsz ${req.argsz} < 16`);
  checkRegionIndex(ctx, req.index, 'DEVICE_GET_REGION_IO_FDS');
  // No ioeventfd/ioregionfd sub-regions: every access comes as a message.
  return encodeIoFds({ argsz: 16, flags: 0, index: req.index, count: 0 });
}

/**
 * Checks an access and returns its offset. An access must lie wholly inside
 * its region: one that starts inside and runs past the end is EINVAL like any
 * other out-of-bounds access, in config space, the ROM and BARs alike. The
 * spec's reply count ("the size of the data transferred") would allow
 * serving the part inside, but no client gains from that: QEMU's vfio-user
 * client never reads the count of a REGION_WRITE reply (it reports the whole
 * write done, so the tail would vanish silently) and takes a short
 * REGION_READ as a failed access (all-ones and an error report). The
 * reference server (libvfio-user) refuses such accesses too, and the
 * kernel's vfio-pci refuses any config access past the end of config space.
 */
function regionSpan(ctx: HandlerContext, what: string, req: RegionAccess, offset: number, write: boolean): number {
  const { region: index, count } = req;
  checkRegionIndex(ctx, index, what);
  const max = ctx.limits.maxDataXferSize;
  if (count > max) throw new VfioError(Errno.EINVAL, `${what}: count ${count} exceeds max_data_xfer_size ${max}`);
  const info = ctx.device.regionInfo(index);
  const need = write ? REGION_INFO_FLAG_WRITE : REGION_INFO_FLAG_READ;
  if (!(info.flags & need)) throw new VfioError(Errno.EINVAL, `${what}: region ${index} is not ${write ? 'writable' : 'readable'}`);
  const at = inRegion(offset, count, info.size);
  if (at < 0) {
    throw new VfioError(Errno.EINVAL, `${what}: ${count} bytes at 0x${req.offset.toString(16)} do not fit in region ${index} (0x${info.size.toString(16)} bytes: offsets 0..0x${Math.max(info.size - count, 0).toString(16)} for this count)`);
  }
  return at;
}

/**
 * The offset as a number when [offset, offset+count) lies inside a region of
 * `size` bytes, else -1. No BigInt arithmetic (this runs for every write of a
 * storm): region sizes are below 2^53, and an offset that large converts to a
 * number at least 2^53, which no region reaches.
 */
function inRegion(offset: bigint | number, count: number, size: number): number {
  const at = Number(offset);
  return at + count <= size ? at : -1;
}

/** Each REGION_READ is read in place: a guest MMIO read is a round trip, nothing of it is kept. */
const regionRead = new RegionAccessView();

export function handleRegionRead(ctx: HandlerContext, msg: Message): Uint8Array {
  // Too short to wrap: the codec throws, saying precisely what is wrong.
  if (!regionRead.wrap(msg.payload)) decodeRegionAccess(msg.payload, 'REGION_READ');
  const offset = regionSpan(ctx, 'REGION_READ', regionRead, regionRead.offsetNumber, false);
  ctx.stats.regionReads++;
  return regionRead.readReply(ctx.device.regionRead(regionRead.region, offset, regionRead.count));
}

/** The posted-write path reads each REGION_WRITE in place (a guest can send a million a second). */
const regionWrite = new RegionWriteView();

export function handleRegionWrite(ctx: HandlerContext, msg: Message): Uint8Array | undefined {
  // Malformed (too short, or a count the data does not match): the codec throws, saying what is wrong.
  if (!regionWrite.wrap(msg.payload)) decodeRegionData(msg.payload, 'REGION_WRITE');
  const region = regionWrite.region;
  const offset = regionSpan(ctx, 'REGION_WRITE', regionWrite, regionWrite.offsetNumber, true);
  ctx.stats.regionWrites++;
  ctx.device.regionWrite(region, offset, regionWrite.data);
  if (msg.header.flags & FLAG_NO_REPLY) {
    ctx.stats.postedWrites++;
    return undefined;
  }
  return encodeRegionAccess({ offset: regionWrite.offset, region, count: regionWrite.count });
}

/** REGION_WRITE_MULTI entries, read in place (the storm path: millions a second). */
const writeMulti = new WriteMultiView();

/**
 * Coalesced posted writes, applied in order with REGION_WRITE's rules. A bad
 * entry stops the batch; the reply's wr_cnt says how many were applied.
 * Region checks are done once per region per message.
 */
export function handleRegionWriteMulti(ctx: HandlerContext, msg: Message): Uint8Array {
  if (!ctx.granted?.writeMultiple) throw new VfioError(Errno.EINVAL, 'REGION_WRITE_MULTI was not negotiated (write_multiple)');
  const v = writeMulti;
  const n = v.wrap(msg.payload, WRITE_MULTI_MAX);
  const sizes = new Map<number, number>();
  let done = 0;
  for (; done < n; done++) {
    const region = v.region(done);
    const count = v.count(done);
    try {
      if (count === 0 || count > WRITE_MULTI_DATA) throw new VfioError(Errno.EINVAL, `entry count ${count} is not 1..${WRITE_MULTI_DATA}`);
      let size = sizes.get(region);
      if (size === undefined) {
        checkRegionIndex(ctx, region, 'REGION_WRITE_MULTI');
        const info = ctx.device.regionInfo(region);
        if (!(info.flags & REGION_INFO_FLAG_WRITE)) throw new VfioError(Errno.EINVAL, `REGION_WRITE_MULTI: region ${region} is not writable`);
        size = info.size;
        sizes.set(region, size);
      }
      const offset = v.offset(done);
      const at = inRegion(offset, count, size);
      if (at < 0) throw new VfioError(Errno.EINVAL, `${count} bytes at 0x${offset.toString(16)} do not fit in region ${region} (0x${size.toString(16)} bytes)`);
      ctx.device.regionWrite(region, at, v.data(done));
    } catch (err) {
      ctx.log(`REGION_WRITE_MULTI entry ${done} of ${n}: ${(err as Error).message}`);
      break;
    }
  }
  ctx.stats.regionWrites += done;
  ctx.stats.postedWrites += done;
  return encodeWriteMultiReply(done);
}

export function handleDeviceReset(ctx: HandlerContext, msg: Message): undefined {
  if (msg.payload.length !== 0) throw new VfioError(Errno.EINVAL, `DEVICE_RESET carries ${msg.payload.length} payload bytes; it has none`);
  ctx.device.reset();
  return undefined;
}

export function handleDeviceFeature(_ctx: HandlerContext, msg: Message): never {
  const f = decodeDeviceFeature(msg.payload);
  if (f.argsz < 8) throw new VfioError(Errno.EINVAL, `DEVICE_FEATURE: argsz ${f.argsz} < 8`);
  // Migration and DMA logging are the only features the spec defines; an
  // irqlab device supports neither.
  throw new VfioError(Errno.ENOTSUP, `DEVICE_FEATURE ${f.flags & DEVICE_FEATURE_MASK} is not supported (no migration, no DMA logging)`);
}

export function handleMigData(_ctx: HandlerContext, msg: Message): never {
  decodeMigData(msg.payload, 'MIG_DATA');
  throw new VfioError(Errno.ENOTSUP, 'migration is not supported by this device');
}
