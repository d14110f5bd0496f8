// The command table: which handler answers which vfio-user command. Handlers
// live with their concern; this file only routes.
import { Command, Errno, VfioError, commandName } from '../protocol/index.ts';
import type { Message } from '../transport/message.ts';
import type { HandlerResult } from '../transport/connection.ts';
import type { HandlerContext } from './context.ts';
import { handleVersion } from './negotiate.ts';
import { handleDmaMap, handleDmaUnmap } from '../dma/handlers.ts';
import {
  handleDeviceGetInfo, handleGetRegionInfo, handleGetRegionIoFds, handleRegionRead, handleRegionWrite,
  handleRegionWriteMulti, handleDeviceReset, handleDeviceFeature, handleMigData,
} from '../device/handlers.ts';
import { handleGetIrqInfo, handleSetIrqs } from '../irq/handlers.ts';

export type Handler = (ctx: HandlerContext, msg: Message) => HandlerResult;

const serverToClient: Handler = (_ctx, msg) => {
  throw new VfioError(Errno.EINVAL, `${commandName(msg.header.command)} goes from server to client, not to a server`);
};

export const handlers: Record<number, Handler> = {
  [Command.VERSION]: handleVersion,
  [Command.DMA_MAP]: handleDmaMap,
  [Command.DMA_UNMAP]: handleDmaUnmap,
  [Command.DEVICE_GET_INFO]: handleDeviceGetInfo,
  [Command.DEVICE_GET_REGION_INFO]: handleGetRegionInfo,
  [Command.DEVICE_GET_REGION_IO_FDS]: handleGetRegionIoFds,
  [Command.DEVICE_GET_IRQ_INFO]: handleGetIrqInfo,
  [Command.DEVICE_SET_IRQS]: handleSetIrqs,
  [Command.REGION_READ]: handleRegionRead,
  [Command.REGION_WRITE]: handleRegionWrite,
  [Command.DMA_READ]: serverToClient,
  [Command.DMA_WRITE]: serverToClient,
  [Command.DEVICE_RESET]: handleDeviceReset,
  [Command.REGION_WRITE_MULTI]: handleRegionWriteMulti,
  [Command.DEVICE_FEATURE]: handleDeviceFeature,
  [Command.MIG_DATA_READ]: handleMigData,
  [Command.MIG_DATA_WRITE]: handleMigData,
};

export function dispatch(ctx: HandlerContext, msg: Message): HandlerResult {
  const cmd = msg.header.command;
  const handler = handlers[cmd];
  if (!handler) throw new VfioError(Errno.ENOSYS, `unknown command ${cmd}`);
  if (!ctx.peer && cmd !== Command.VERSION) {
    throw new VfioError(Errno.EINVAL, `${commandName(cmd)} before VERSION: negotiate first`);
  }
  return handler(ctx, msg);
}
