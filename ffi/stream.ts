// A connected, non-blocking stream socket with descriptor passing: recvmsg into
// a native receive buffer, send with an optional SCM_RIGHTS array, and a write
// backlog when the peer's buffer is full.
import {
  koffi, libc, allocNative, freeNative, type NativeBuffer,
  SOL_SOCKET, SCM_RIGHTS, MSG_CTRUNC, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_CMSG_CLOEXEC, SHUT_RDWR,
} from './libc.ts';
import { SysError, Errno, EAGAIN, EINTR } from './errors.ts';
import { closeFd, closeFds, dupFd } from './fd.ts';
import { FdPoller } from './poll.ts';

const MSGHDR_SIZE = 56;
const IOVEC_SIZE = 16;
const CMSG_HDR = 16;
const RX_SIZE = 256 * 1024;
const NO_FDS: number[] = [];
const align8 = (n: number) => (n + 7) & ~7;
const cmsgSpace = (fds: number) => CMSG_HDR + align8(fds * 4);

export interface RecvResult {
  /**
   * The bytes received, a view into the stream's native receive buffer: valid
   * until the next recv() only. Empty means the peer closed its end.
   */
  data: Uint8Array;
  /** Descriptors that came with these bytes; the caller owns them now. */
  fds: number[];
  /** The control buffer was too small: some descriptors were dropped by the kernel. */
  ctrunc: boolean;
}

export interface StreamHandlers {
  /**
   * Data (or EOF) can be read: call recv() until it returns null. `hangup`:
   * the peer is gone; read everything that is left, then the end.
   */
  onReadable(hangup: boolean): void;
  onError(err: unknown): void;
}

interface Pending {
  data: Uint8Array;
  fds: number[];
}

export class SocketStream {
  private poller: FdPoller | null;
  /** struct msghdr followed by its one struct iovec. */
  private readonly msghdr: NativeBuffer;
  private readonly control: NativeBuffer;
  private readonly rx: NativeBuffer;
  private scratch: NativeBuffer | null = null;
  private backlog: Pending[] = [];
  private backlogBytes = 0;
  private closed = false;

  constructor(readonly fd: number, private readonly handlers: StreamHandlers, readonly maxFds = 16) {
    this.msghdr = allocNative(MSGHDR_SIZE + IOVEC_SIZE);
    this.control = allocNative(cmsgSpace(maxFds));
    this.rx = allocNative(RX_SIZE);
    // One iovec over the whole receive buffer; the header points at it and at
    // the control buffer for good.
    const h = this.msghdr.view;
    this.msghdr.bytes.fill(0); // msg_name NULL, namelen 0, high halves 0
    h.setBigUint64(16, this.msghdr.address + BigInt(MSGHDR_SIZE), true); // msg_iov
    h.setBigUint64(24, 1n, true); // msg_iovlen
    h.setBigUint64(32, this.control.address, true); // msg_control
    h.setBigUint64(MSGHDR_SIZE, this.rx.address, true); // iov_base
    h.setBigUint64(MSGHDR_SIZE + 8, BigInt(RX_SIZE), true); // iov_len
    this.poller = new FdPoller(fd, (ev) => {
      if (ev.writable) this.flush();
      if (ev.readable || ev.disconnect) this.handlers.onReadable(ev.disconnect);
    }, (err) => this.handlers.onError(err));
  }

  /** The most one recv() returns. */
  get receiveBufferSize(): number {
    return RX_SIZE;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes waiting for the peer to drain its receive buffer. */
  get pendingBytes(): number {
    return this.backlogBytes;
  }

  /** Receives what is available now (at most 256 KiB); null when nothing is. */
  recv(): RecvResult | null {
    const h = this.msghdr.view;
    // The kernel rewrites these two on every call; the rest was set once.
    h.setUint32(40, this.control.bytes.length, true); // msg_controllen (low half)
    h.setInt32(48, 0, true); // msg_flags
    let n: number;
    for (;;) {
      n = Number(libc.recvmsg(this.fd, this.msghdr.ptr, MSG_CMSG_CLOEXEC | MSG_DONTWAIT));
      if (n !== -1) break;
      const e = koffi.errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return null;
      throw new SysError('recvmsg', e);
    }
    const flags = h.getInt32(48, true);
    const controlLen = h.getUint32(40, true);
    return { data: this.rx.bytes.subarray(0, n), fds: controlLen ? this.parseRights(controlLen) : NO_FDS, ctrunc: (flags & MSG_CTRUNC) !== 0 };
  }

  private parseRights(controlLen: number): number[] {
    const fds: number[] = [];
    const c = this.control.view;
    let at = 0;
    while (at + CMSG_HDR <= controlLen) {
      const len = Number(c.getBigUint64(at, true));
      if (len < CMSG_HDR) break;
      const level = c.getInt32(at + 8, true);
      const type = c.getInt32(at + 12, true);
      if (level === SOL_SOCKET && type === SCM_RIGHTS) {
        const count = Math.floor((len - CMSG_HDR) / 4);
        for (let i = 0; i < count; i++) fds.push(c.getInt32(at + CMSG_HDR + i * 4, true));
      }
      at += align8(len);
    }
    return fds;
  }

  /**
   * Sends bytes, with descriptors attached to the first byte. Never blocks:
   * what the socket does not take now is kept (descriptors duplicated, so the
   * caller may close its own right away) and sent when it becomes writable.
   */
  send(data: Uint8Array, fds: readonly number[] = []): void {
    if (this.closed) throw new SysError('send', Errno.EPIPE, 'stream is closed');
    if (this.backlog.length === 0) {
      const sent = this.trySend(data, fds);
      if (sent === data.length) return;
      if (sent > 0) fds = [];
      data = data.subarray(sent);
    }
    this.backlog.push({ data: data.slice(), fds: fds.map(dupFd) });
    this.backlogBytes += data.length;
    this.poller?.setWantWrite(true);
  }

  /** Returns bytes written (0 when the socket is full). Throws on a dead peer. */
  private trySend(data: Uint8Array, fds: readonly number[]): number {
    for (;;) {
      const n = fds.length === 0
        ? Number(libc.send(this.fd, data, data.length, MSG_NOSIGNAL | MSG_DONTWAIT))
        : this.sendWithRights(data, fds);
      if (n !== -1) return n;
      const e = koffi.errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return 0;
      throw new SysError(fds.length ? 'sendmsg' : 'send', e);
    }
  }

  private sendWithRights(data: Uint8Array, fds: readonly number[]): number {
    if (fds.length > 253) throw new SysError('sendmsg', Errno.EINVAL, `${fds.length} descriptors exceed SCM_MAX_FD`);
    const controlLen = cmsgSpace(fds.length);
    const need = MSGHDR_SIZE + IOVEC_SIZE + controlLen + data.length;
    if (!this.scratch || this.scratch.bytes.length < need) {
      if (this.scratch) freeNative(this.scratch);
      this.scratch = allocNative(Math.max(need, 4096));
    }
    const s = this.scratch;
    const v = s.view;
    const iovAt = MSGHDR_SIZE;
    const ctlAt = MSGHDR_SIZE + IOVEC_SIZE;
    const dataAt = ctlAt + controlLen;
    s.bytes.fill(0, 0, dataAt);
    s.bytes.set(data, dataAt);
    v.setBigUint64(16, s.address + BigInt(iovAt), true);
    v.setBigUint64(24, 1n, true);
    v.setBigUint64(32, s.address + BigInt(ctlAt), true);
    v.setBigUint64(40, BigInt(controlLen), true);
    v.setBigUint64(iovAt, s.address + BigInt(dataAt), true);
    v.setBigUint64(iovAt + 8, BigInt(data.length), true);
    v.setBigUint64(ctlAt, BigInt(CMSG_HDR + fds.length * 4), true);
    v.setInt32(ctlAt + 8, SOL_SOCKET, true);
    v.setInt32(ctlAt + 12, SCM_RIGHTS, true);
    fds.forEach((fd, i) => v.setInt32(ctlAt + CMSG_HDR + i * 4, fd, true));
    return Number(libc.sendmsg(this.fd, s.ptr, MSG_NOSIGNAL | MSG_DONTWAIT));
  }

  private flush(): void {
    try {
      while (this.backlog.length > 0) {
        const head = this.backlog[0];
        const sent = this.trySend(head.data, head.fds);
        if (sent === 0) return;
        closeFds(head.fds);
        head.fds = [];
        this.backlogBytes -= sent;
        if (sent < head.data.length) {
          head.data = head.data.subarray(sent);
          return;
        }
        this.backlog.shift();
      }
      this.poller?.setWantWrite(false);
    } catch (err) {
      this.handlers.onError(err);
    }
  }

  pauseReading(): void {
    this.poller?.pause();
  }

  resumeReading(): void {
    this.poller?.resume();
  }

  unref(): void {
    this.poller?.unref();
  }

  /** Half-close both directions without releasing the fd (the peer sees EOF). */
  shutdown(): void {
    if (!this.closed) libc.shutdown(this.fd, SHUT_RDWR);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poller?.close();
    this.poller = null;
    for (const p of this.backlog) closeFds(p.fds);
    this.backlog = [];
    this.backlogBytes = 0;
    closeFd(this.fd);
    freeNative(this.msghdr);
    freeNative(this.control);
    freeNative(this.rx);
    if (this.scratch) freeNative(this.scratch);
    this.scratch = null;
  }
}
