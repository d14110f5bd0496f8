// Device-level commands: information, region access, reset, features.
import {
  Errno, VfioError, FLAG_NO_REPLY,
  decodeDeviceInfo, encodeDeviceInfo, DEVICE_INFO_SIZE,
  decodeRegionInfo, encodeRegionInfo, REGION_INFO_SIZE, REGION_INFO_FLAG_CAPS,
  REGION_INFO_FLAG_READ, REGION_INFO_FLAG_WRITE,
  decodeIoFds, encodeIoFds,
  decodeRegionAccess, decodeRegionData, encodeRegionData, encodeRegionAccess, REGION_ACCESS_SIZE,
  decodeWriteMultiHeader, encodeWriteMultiReply, WRITE_MULTI_MAX, WRITE_MULTI_DATA, WRITE_MULTI_ENTRY_SIZE,
  decodeDeviceFeature, decodeMigData, DEVICE_FEATURE_MASK,
} from '../protocol/index.ts';
import type { Message } from '../transport/message.ts';
import type { HandlerContext } from '../server/context.ts';

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
 * Validates an access and clips it to the region: an access that starts inside
 * and runs past the end is served for the part inside, and the reply's count
 * says how much (a partial access is a count, not an error).
 */
function regionSpan(ctx: HandlerContext, what: string, index: number, offset: bigint, count: number, write: boolean): { offset: number; count: number } {
  checkRegionIndex(ctx, index, what);
  const max = ctx.limits.maxDataXferSize;
  if (count > max) throw new VfioError(Errno.EINVAL, `${what}: count ${count} exceeds max_data_xfer_size ${max}`);
  const info = ctx.device.regionInfo(index);
  const need = write ? REGION_INFO_FLAG_WRITE : REGION_INFO_FLAG_READ;
  if (!(info.flags & need)) throw new VfioError(Errno.EINVAL, `${what}: region ${index} is not ${write ? 'writable' : 'readable'}`);
  if (offset + BigInt(count) > 0xffffffffffffffffn) throw new VfioError(Errno.EINVAL, `${what}: offset 0x${offset.toString(16)} + count ${count} overflows`);
  if (offset >= BigInt(info.size)) {
    throw new VfioError(Errno.EINVAL, `${what}: offset 0x${offset.toString(16)} is beyond region ${index} (size 0x${info.size.toString(16)})`);
  }
  const at = Number(offset);
  return { offset: at, count: Math.min(count, info.size - at) };
}

export function handleRegionRead(ctx: HandlerContext, msg: Message): Uint8Array {
  const req = decodeRegionAccess(msg.payload, 'REGION_READ');
  const span = regionSpan(ctx, 'REGION_READ', req.region, req.offset, req.count, false);
  ctx.stats.regionReads++;
  const data = ctx.device.regionRead(req.region, span.offset, span.count);
  return encodeRegionData({ offset: req.offset, region: req.region, count: data.length, data });
}

export function handleRegionWrite(ctx: HandlerContext, msg: Message): Uint8Array | undefined {
  // The posted-write path: decoded in place (a guest can send a million a second).
  const p = msg.payload;
  if (p.length < REGION_ACCESS_SIZE) return handleRegionWriteSlow(ctx, msg);
  const v = new DataView(p.buffer, p.byteOffset, REGION_ACCESS_SIZE);
  const count = v.getUint32(12, true);
  if (count !== p.length - REGION_ACCESS_SIZE) return handleRegionWriteSlow(ctx, msg);
  const req = { offset: v.getBigUint64(0, true), region: v.getUint32(8, true), count, data: p.subarray(REGION_ACCESS_SIZE) };
  return applyRegionWrite(ctx, msg, req);
}

/** Malformed REGION_WRITEs: the codec says precisely what is wrong. */
function handleRegionWriteSlow(ctx: HandlerContext, msg: Message): Uint8Array | undefined {
  return applyRegionWrite(ctx, msg, decodeRegionData(msg.payload, 'REGION_WRITE'));
}

function applyRegionWrite(ctx: HandlerContext, msg: Message, req: { offset: bigint; region: number; count: number; data: Uint8Array }): Uint8Array | undefined {
  const span = regionSpan(ctx, 'REGION_WRITE', req.region, req.offset, req.count, true);
  ctx.stats.regionWrites++;
  ctx.device.regionWrite(req.region, span.offset, req.data.subarray(0, span.count));
  if (msg.header.flags & FLAG_NO_REPLY) {
    ctx.stats.postedWrites++;
    return undefined;
  }
  return encodeRegionAccess({ offset: req.offset, region: req.region, count: span.count });
}

/**
 * Coalesced posted writes, applied in order with REGION_WRITE's rules. A bad
 * entry stops the batch; the reply's wr_cnt says how many were applied. This
 * is the storm path (millions of entries a second): entries are read in place,
 * and region checks are done once per region per message.
 */
export function handleRegionWriteMulti(ctx: HandlerContext, msg: Message): Uint8Array {
  if (!ctx.granted?.writeMultiple) throw new VfioError(Errno.EINVAL, 'REGION_WRITE_MULTI was not negotiated (write_multiple)');
  const p = msg.payload;
  decodeWriteMultiHeader(p, WRITE_MULTI_MAX); // checks wr_cnt against the entries present
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const n = (p.length - 8) / WRITE_MULTI_ENTRY_SIZE;
  const sizes = new Map<number, number>();
  let done = 0;
  for (let at = 8; done < n; done++, at += WRITE_MULTI_ENTRY_SIZE) {
    const offset = v.getBigUint64(at, true);
    const region = v.getUint32(at + 8, true);
    const count = v.getUint32(at + 12, true);
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
      if (offset >= BigInt(size)) throw new VfioError(Errno.EINVAL, `offset 0x${offset.toString(16)} is beyond region ${region}`);
      const o = Number(offset);
      ctx.device.regionWrite(region, o, p.subarray(at + 16, at + 16 + Math.min(count, size - o)));
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
