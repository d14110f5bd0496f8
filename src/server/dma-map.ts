// DMA_MAP / DMA_UNMAP: the client tells the device which of its memory it may
// reach. The map belongs to the session (made empty when it starts, unmapped
// when it ends), so its commands are handled here, with VERSION.
import { closeFds } from '../../ffi/index.ts';
import {
  Errno, VfioError, decodeDmaMap, decodeDmaUnmap, encodeDmaUnmap, DMA_UNMAP_ALL, DMA_UNMAP_SIZE,
} from '../protocol/index.ts';
import type { Message } from '../transport/connection.ts';
import type { HandlerContext } from '../device/model.ts';

export function handleDmaMap(ctx: HandlerContext, msg: Message): undefined {
  const fds = msg.takeFds();
  let m;
  try {
    m = decodeDmaMap(msg.payload);
    if (fds.length > 1) throw new VfioError(Errno.EINVAL, `DMA_MAP carries ${fds.length} descriptors; at most one is allowed`);
  } catch (err) {
    closeFds(fds);
    throw err;
  }
  ctx.dma.map(m, fds[0]); // owns the descriptor from here, even on failure
  return undefined;
}

export function handleDmaUnmap(ctx: HandlerContext, msg: Message): Uint8Array {
  const u = decodeDmaUnmap(msg.payload);
  if (u.flags & ~DMA_UNMAP_ALL) throw new VfioError(Errno.EINVAL, `DMA_UNMAP: unsupported flags 0x${u.flags.toString(16)} (dirty page tracking is not supported)`);
  if (u.flags & DMA_UNMAP_ALL) {
    if (u.address !== 0n || u.size !== 0n) throw new VfioError(Errno.EINVAL, 'DMA_UNMAP: UNMAP_ALL needs address and size 0');
    ctx.dma.unmapAll();
  } else {
    ctx.dma.unmap(u.address, u.size);
  }
  // "The server responds with the original DMA entry in the request."
  return encodeDmaUnmap({ ...u, argsz: DMA_UNMAP_SIZE });
}
