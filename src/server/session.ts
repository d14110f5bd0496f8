// One client's session with the device: its connection, its memory map, what
// was negotiated. When it ends, the client's eventfds and mappings go and the
// device returns to its reset state.
import { Connection, type HandlerResult, type Tap } from '../transport/connection.ts';
import type { PeerCred } from '../../ffi/index.ts';
import type { Message } from '../transport/message.ts';
import { DmaSpace, type DmaObserver } from '../dma/dma-space.ts';
import type { DeviceModel } from '../device/model.ts';
import { DEFAULT_MAX_DATA_XFER } from '../protocol/index.ts';
import { dispatch } from './dispatch.ts';
import { faultInterceptor } from '../faults/interceptor.ts';
import type { HandlerContext, ServerLimits, SessionStats } from './context.ts';

/** Sits between the transport and the dispatcher (fault injection, tracing). */
export type Interceptor = (ctx: HandlerContext, msg: Message, next: () => HandlerResult) => HandlerResult;

export interface SessionOptions {
  /** Who connected (SO_PEERCRED). */
  peer?: PeerCred;
  limits: ServerLimits;
  log: (line: string) => void;
  /** Timeout for our DMA_READ/DMA_WRITE requests to the client, ms. */
  dmaTimeoutMs?: number;
  interceptor?: Interceptor;
  tap?: Tap;
  /** Sees DMA to shared memory (which sends no message). */
  dmaObserver?: DmaObserver;
  onEnd?: (session: Session, reason: Error | undefined) => void;
}

export class Session {
  readonly conn: Connection;
  readonly ctx: HandlerContext;
  readonly startedAt = Date.now();
  readonly peer: PeerCred | undefined;
  private ended = false;

  constructor(fd: number, readonly device: DeviceModel, private readonly opts: SessionOptions) {
    this.peer = opts.peer;
    const stats: SessionStats = { commands: 0, errors: 0, postedWrites: 0, regionReads: 0, regionWrites: 0 };
    const maxMessageSize = Math.max(64 * 1024, opts.limits.maxDataXferSize + 4096);
    this.conn = new Connection(fd, {
      onCommand: (msg) => this.onCommand(msg),
      onClose: (reason) => this.end(reason),
    }, { maxMessageSize, maxFds: opts.limits.maxMsgFds, requestTimeoutMs: opts.dmaTimeoutMs ?? 5000, log: opts.log, tap: opts.tap });
    const dma = new DmaSpace(
      (command, payload, noReply) => this.conn.request(command, payload, { noReply }),
      { maxMaps: opts.limits.maxDmaMaps, maxXfer: () => this.ctx.peer?.maxDataXferSize ?? DEFAULT_MAX_DATA_XFER, observe: opts.dmaObserver, log: opts.log },
    );
    this.ctx = { device, dma, limits: opts.limits, peer: undefined, granted: undefined, stats, log: opts.log, close: () => this.close() };
    const faults = device.faults ? faultInterceptor(device.faults) : undefined;
    const user = opts.interceptor;
    this.interceptor = faults && user ? (ctx, msg, next) => faults(ctx, msg, () => user(ctx, msg, next)) : faults ?? user;
  }

  private readonly interceptor: Interceptor | undefined;

  private onCommand(msg: Message): HandlerResult {
    const ctx = this.ctx;
    const wasNegotiated = ctx.peer !== undefined;
    ctx.stats.commands++;
    // No named closure here: under tsx (esbuild keepNames) a named function
    // costs a defineProperty call per message.
    const interceptor = this.interceptor;
    const result = interceptor ? interceptor(ctx, msg, () => dispatch(ctx, msg)) : dispatch(ctx, msg);
    if (!wasNegotiated && ctx.peer) this.device.attach({ dma: ctx.dma, log: ctx.log });
    return result;
  }

  get negotiated(): boolean {
    return this.ctx.peer !== undefined;
  }

  close(reason?: Error): void {
    this.conn.close(reason);
  }

  private end(reason: Error | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.ctx.dma.unmapAll();
    if (this.ctx.peer) this.device.detach();
    this.opts.onEnd?.(this, reason);
  }
}
