// Interrupt commands: what each index offers, and SET_IRQS.
import { closeFds, adoptEventFd, SysError } from '../../ffi/index.ts';
import {
  Errno, VfioError, decodeIrqInfo, encodeIrqInfo, IRQ_INFO_SIZE, decodeIrqSet,
  IRQ_SET_DATA_EVENTFD,
} from '../protocol/index.ts';
import type { Message } from '../transport/connection.ts';
import type { HandlerContext } from '../device/model.ts';

export function handleGetIrqInfo(ctx: HandlerContext, msg: Message): Uint8Array {
  const req = decodeIrqInfo(msg.payload);
  if (req.argsz < IRQ_INFO_SIZE) throw new VfioError(Errno.EINVAL, `DEVICE_GET_IRQ_INFO: argsz ${req.argsz} < ${IRQ_INFO_SIZE}`);
  if (req.index >= ctx.device.numIrqs) throw new VfioError(Errno.EINVAL, `DEVICE_GET_IRQ_INFO: irq index ${req.index} does not exist (the device has ${ctx.device.numIrqs})`);
  const info = ctx.device.irqInfo(req.index);
  return encodeIrqInfo({ argsz: IRQ_INFO_SIZE, flags: info.flags, index: req.index, count: info.count });
}

export function handleSetIrqs(ctx: HandlerContext, msg: Message): undefined {
  const fds = msg.takeFds();
  try {
    const set = decodeIrqSet(msg.payload);
    if (fds.length && !(set.flags & IRQ_SET_DATA_EVENTFD)) {
      throw new VfioError(Errno.EINVAL, `DEVICE_SET_IRQS: ${fds.length} descriptors sent without DATA_EVENTFD`);
    }
    if (set.index >= ctx.device.numIrqs) throw new VfioError(Errno.EINVAL, `DEVICE_SET_IRQS: irq index ${set.index} does not exist`);
    for (const fd of fds) {
      try {
        adoptEventFd(fd);
      } catch (err) {
        throw new VfioError(Errno.EINVAL, `DEVICE_SET_IRQS: ${(err as SysError).message}`);
      }
    }
    ctx.device.setIrqs(set, fds);
  } catch (err) {
    // setIrqs keeps descriptors only when it succeeds.
    closeFds(fds);
    throw err;
  }
  return undefined;
}
