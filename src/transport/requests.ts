// Our own requests to the peer, waiting for their replies: DMA_READ and
// DMA_WRITE from a server, every command from a client. A request takes a
// free 16-bit id; its reply is matched by id and command; each has a timeout;
// all still waiting fail when the connection closes.
import { closeFds } from '../../ffi/index.ts';
import { commandName } from '../protocol/constants.ts';
import { Errno, VfioError, errnoName } from '../protocol/errno.ts';
import { isError, type Header } from '../protocol/header.ts';

export interface Reply {
  header: Header;
  payload: Uint8Array;
  fds: number[];
}

interface Pending {
  command: number;
  resolve(r: Reply): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class PendingRequests {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  get size(): number {
    return this.pending.size;
  }

  /** An id no request in flight uses. */
  allocId(): number {
    for (let i = 0; i < 0x10000; i++) {
      const id = this.nextId;
      this.nextId = (this.nextId + 1) & 0xffff;
      if (!this.pending.has(id)) return id;
    }
    throw new VfioError(Errno.EAGAIN, '65536 requests in flight');
  }

  /** The reply to request `id`, or ETIMEDOUT after timeoutMs. */
  wait(id: number, command: number, timeoutMs: number): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new VfioError(Errno.ETIMEDOUT, `no reply to ${commandName(command)} #${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve, reject, timer });
    });
  }

  /**
   * A reply arrived: settles its request (an error reply rejects it with the
   * peer's errno). False when it matches no request of ours; its descriptors
   * are then closed.
   */
  settle(header: Header, payload: Uint8Array, fds: number[]): boolean {
    const p = this.pending.get(header.id);
    if (!p || p.command !== header.command) {
      closeFds(fds);
      return false;
    }
    this.pending.delete(header.id);
    clearTimeout(p.timer);
    if (isError(header)) {
      closeFds(fds);
      p.reject(new VfioError(header.error || Errno.EIO, `peer failed ${commandName(header.command)} #${header.id} (${errnoName(header.error)})`));
    } else {
      p.resolve({ header, payload: payload.slice(), fds });
    }
    return true;
  }

  /** Fails every request still waiting (the connection closed). */
  failAll(): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new VfioError(Errno.ENOTCONN, `connection closed before the reply to ${commandName(p.command)} #${id}`));
    }
    this.pending.clear();
  }
}
