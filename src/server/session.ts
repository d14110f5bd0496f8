// One client's session with the device: its connection, its memory map, what
// was negotiated. When it ends, the client's eventfds and mappings go and the
// device returns to its reset state.
import { Connection, type Tap } from '../transport/connection.ts';
import type { PeerCred } from '../../ffi/index.ts';
import type { Interceptor as CommandInterceptor } from '../transport/interceptor.ts';
import { DmaSpace, type DmaObserver } from '../dma/dma-space.ts';
import type { DeviceModel, HandlerContext, ServerLimits, SessionStats } from '../device/model.ts';
import { DEFAULT_MAX_DATA_XFER } from '../protocol/index.ts';
import { commandHandler } from './dispatch.ts';

/** Sits between the transport and the dispatcher (fault injection, tracing...). */
export type Interceptor = CommandInterceptor<HandlerContext>;

export interface SessionOptions {
  /** Who connected (SO_PEERCRED). */
  peer?: PeerCred;
  limits: ServerLimits;
  log: (line: string) => void;
  /** Timeout for our DMA_READ/DMA_WRITE requests to the client, ms. */
  dmaTimeoutMs?: number;
  /** The server's interceptors, outermost first (inside the device's own). */
  interceptors?: readonly Interceptor[];
  tap?: Tap;
  /** Sees DMA to shared memory (which sends no message). */
  dmaObserver?: DmaObserver;
  onEnd?: (session: Session, reason: Error | undefined) => void;
  /** Poll mode's window, us (0: off); see ConnectionOptions.pollUs. */
  pollUs?: number;
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
    const dma = new DmaSpace(
      (command, payload, noReply) => this.conn.request(command, payload, { noReply }),
      { maxMaps: opts.limits.maxDmaMaps, maxXfer: () => this.ctx.peer?.maxDataXferSize ?? DEFAULT_MAX_DATA_XFER, observe: opts.dmaObserver, log: opts.log },
    );
    this.ctx = { device, dma, limits: opts.limits, peer: undefined, granted: undefined, stats, log: opts.log, close: () => this.close() };
    this.conn = new Connection(fd, {
      onCommand: commandHandler(this.ctx, opts.interceptors ?? []),
      onClose: (reason) => this.end(reason),
    }, { maxMessageSize, maxFds: opts.limits.maxMsgFds, requestTimeoutMs: opts.dmaTimeoutMs ?? 5000, log: opts.log, tap: opts.tap, pollUs: opts.pollUs });
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
