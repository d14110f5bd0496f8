// The command table: which handler answers which vfio-user command. Handlers
// live with their concern; this file only routes, through the interceptors
// of the device and of whoever built the server.
import { Command, Errno, VfioError, commandName } from '../protocol/index.ts';
import type { Message } from '../transport/connection.ts';
import type { HandlerResult } from '../transport/connection.ts';
import { intercept, type Interceptor } from '../transport/interceptor.ts';
import type { HandlerContext } from '../device/model.ts';
import { handleVersion } from './negotiate.ts';
import { handleDmaMap, handleDmaUnmap } from './dma-map.ts';
import {
  handleDeviceGetInfo, handleGetRegionInfo, handleGetRegionIoFds, handleRegionRead, handleRegionWrite,
  handleRegionWriteMulti, handleDeviceReset, handleDeviceFeature, handleMigData,
} from '../device/handlers.ts';
import { handleGetIrqInfo, handleSetIrqs } from '../irq/handlers.ts';
import { userFrame } from '../text/user-code.ts';
import { SysError } from '../../ffi/errors.ts';

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

const NONE: readonly Interceptor<HandlerContext>[] = [];

/**
 * A session's command handler (what its connection calls for each command):
 * the device's interceptors outermost (its fault rules), then the server's
 * own, then the table.
 */
export function commandHandler(ctx: HandlerContext, serverInterceptors: readonly Interceptor<HandlerContext>[]): (msg: Message) => HandlerResult {
  return (msg) => {
    ctx.stats.commands++;
    const own = ctx.device.interceptors ?? NONE;
    const chain = own.length === 0 ? serverInterceptors : serverInterceptors.length === 0 ? own : [...own, ...serverInterceptors];
    try {
      const r = chain.length === 0 ? dispatch(ctx, msg) : intercept(chain, ctx, msg, dispatch);
      return r instanceof Promise ? r.catch((err) => { throw blame(err, msg); }) : r;
    } catch (err) {
      throw blame(err, msg);
    }
  };
}

/**
 * An exception from the device's own code (a register hook, a window, an
 * interceptor a user wrote) is the user's: the command fails with EIO and
 * the log says where in their file it was thrown. Anything else that is not
 * a VfioError is irqlab's own bug and stays an internal error.
 */
function blame(err: unknown, msg: Message): unknown {
  if (err instanceof VfioError || err instanceof SysError || !(err instanceof Error)) return err;
  const at = userFrame(err);
  if (!at) return err;
  const what = `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`;
  return new VfioError(Errno.EIO, `the device's code threw while handling ${commandName(msg.header.command)}: ${what} (at ${at})`);
}
