// AF_UNIX stream sockets owned outside libuv's net module, because net reads
// with read(2) and the kernel then silently closes any SCM_RIGHTS descriptors
// a peer sends (FINDINGS section 6).
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import {
  koffi, libc, AF_UNIX, SOCK_STREAM, SOCK_NONBLOCK, SOCK_CLOEXEC, SOL_SOCKET, SO_PEERCRED,
} from './libc.ts';
import { check, SysError, Errno, EAGAIN } from './errors.ts';
import { closeFd, setNonBlocking } from './fd.ts';
import { FdPoller } from './poll.ts';

const SUN_PATH_MAX = 108;

function sockaddrUn(path: string): Buffer {
  const encoded = Buffer.from(path, 'utf8');
  if (encoded.length >= SUN_PATH_MAX) {
    throw new Error(`socket path is ${encoded.length} bytes, the limit is ${SUN_PATH_MAX - 1}: ${path}`);
  }
  const addr = Buffer.alloc(2 + SUN_PATH_MAX);
  addr.writeUInt16LE(AF_UNIX, 0);
  encoded.copy(addr, 2);
  return addr;
}

function newSocket(): number {
  return check('socket', libc.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

/** A connected socket pair (tests, twin channels). Both ends non-blocking. */
export function socketPair(): [number, number] {
  const sv = new Int32Array(2);
  check('socketpair', libc.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
  return [sv[0], sv[1]];
}

/** Connects to a listening UNIX socket; blocks only for the local handshake. */
export function connectUnix(path: string): number {
  const fd = newSocket();
  const addr = sockaddrUn(path);
  if (libc.connect(fd, addr, addr.length) === -1) {
    const e = koffi.errno();
    closeFd(fd);
    throw new SysError('connect', e, path);
  }
  return fd;
}

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** The credentials of the process on the other end (SO_PEERCRED). */
export function peerCred(fd: number): PeerCred {
  const cred = Buffer.alloc(12);
  const len = new Uint32Array([12]);
  check('getsockopt(SO_PEERCRED)', libc.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len));
  return { pid: cred.readUInt32LE(0), uid: cred.readUInt32LE(4), gid: cred.readUInt32LE(8) };
}

/**
 * Removes a socket file left by a dead server. Refuses to touch anything that
 * is not a socket, or a socket somebody still listens on.
 */
function removeStaleSocket(path: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const fd = newSocket();
  try {
    const addr = sockaddrUn(path);
    if (libc.connect(fd, addr, addr.length) === 0) {
      throw new Error(`another server is listening on ${path}`);
    }
    const e = koffi.errno();
    if (e !== Errno.ECONNREFUSED && e !== Errno.ENOENT && e !== EAGAIN) throw new SysError('connect', e, path);
  } finally {
    closeFd(fd);
  }
  unlinkSync(path);
}

export interface ListenOptions {
  /** File mode of the socket (default 0o600). */
  mode?: number;
  backlog?: number;
}

const SO_ACCEPTCONN = 30;

/**
 * The one way irqlab listens on a socket path (the vfio-user server and the
 * control socket): a stale socket file is replaced, never a live listener or
 * a file that is not a socket; the socket is bound under a tight umask and
 * gets its mode before anyone can connect. Returns the listening descriptor
 * (non-blocking, close-on-exec).
 */
export function listenUnix(path: string, opts: ListenOptions = {}): number {
  removeStaleSocket(path);
  const fd = newSocket();
  try {
    const addr = sockaddrUn(path);
    // Bind under a tight umask so the socket is never reachable with a looser
    // mode, even for the moment between bind and chmod.
    const oldMask = process.umask(0o177);
    try {
      check('bind', libc.bind(fd, addr, addr.length), path);
    } finally {
      process.umask(oldMask);
    }
    chmodSync(path, opts.mode ?? 0o600);
    check('listen', libc.listen(fd, opts.backlog ?? 16), path);
  } catch (err) {
    closeFd(fd);
    throw err;
  }
  return fd;
}

/**
 * A listening socket handed to us by whoever started us (the vfio-user
 * backend convention's --fd=FDNUM): checked, made non-blocking.
 */
function adoptListener(fd: number): number {
  const v = Buffer.alloc(4);
  const len = new Uint32Array([4]);
  if (libc.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, v, len) === -1 || v.readInt32LE(0) !== 1) {
    throw new Error(`descriptor ${fd} is not a listening socket`);
  }
  setNonBlocking(fd, `listening socket ${fd}`);
  return fd;
}

/** A listening UNIX socket that hands each accepted connection's fd to a callback. */
export class UnixListener {
  readonly fd: number;
  private poller: FdPoller | null;
  private closed = false;
  private readonly ownsPath: boolean;

  /**
   * Listens on `path`, or on the listening descriptor `listenFd` we were
   * given (then `path` only names it in messages and nothing is unlinked).
   */
  constructor(readonly path: string, onConnection: (fd: number) => void, onError: (err: unknown) => void, opts: ListenOptions & { listenFd?: number } = {}) {
    const fd = opts.listenFd !== undefined ? adoptListener(opts.listenFd) : listenUnix(path, opts);
    this.ownsPath = opts.listenFd === undefined;
    this.fd = fd;
    this.poller = new FdPoller(fd, () => {
      for (;;) {
        const conn = libc.accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (conn === -1) {
          const e = koffi.errno();
          if (e !== EAGAIN) onError(new SysError('accept4', e, path));
          return;
        }
        onConnection(conn);
      }
    }, onError);
  }

  unref(): void {
    this.poller?.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poller?.close();
    this.poller = null;
    closeFd(this.fd);
    if (!this.ownsPath) return;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
