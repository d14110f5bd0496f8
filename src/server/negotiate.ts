// VFIO_USER_VERSION on the server side: the first message of every session.
import {
  Errno, VfioError, decodeVersion, encodeVersion, parseCapabilities, capabilitiesJson,
  DEFAULT_PGSIZES, type Capabilities,
} from '../protocol/index.ts';
import type { Message } from '../transport/connection.ts';
import type { HandlerContext } from '../device/model.ts';

export const PROTOCOL_MAJOR = 0;
export const PROTOCOL_MINOR = 0;

export function handleVersion(ctx: HandlerContext, msg: Message): Uint8Array {
  if (ctx.peer) throw new VfioError(Errno.EINVAL, 'VERSION was already negotiated on this connection');
  const v = decodeVersion(msg.payload);
  if (v.major !== PROTOCOL_MAJOR) {
    throw new VfioError(Errno.ENOTSUP, `protocol major ${v.major} proposed; this server speaks ${PROTOCOL_MAJOR}.${PROTOCOL_MINOR}`);
  }
  const peer = parseCapabilities(v.json);
  if ((peer.pgsizes & DEFAULT_PGSIZES) === 0) {
    throw new VfioError(Errno.EINVAL, `client page sizes 0x${peer.pgsizes.toString(16)} do not include 4 KiB`);
  }
  // The reply's capabilities must be a subset of what was proposed: only
  // announce write_multiple if the client offered it.
  const granted: Capabilities = {
    maxMsgFds: ctx.limits.maxMsgFds,
    maxDataXferSize: ctx.limits.maxDataXferSize,
    maxDmaMaps: ctx.limits.maxDmaMaps,
    pgsizes: DEFAULT_PGSIZES,
    writeMultiple: peer.writeMultiple && ctx.limits.writeMultiple,
    twinSocket: false,
  };
  ctx.peer = peer;
  ctx.granted = granted;
  // Negotiated: from now on the device may reach the client's memory.
  ctx.device.attach({ dma: ctx.dma, log: ctx.log });
  return encodeVersion({ major: PROTOCOL_MAJOR, minor: Math.min(v.minor, PROTOCOL_MINOR), json: capabilitiesJson(granted) });
}
