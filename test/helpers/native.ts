// Descriptors and socket moves a well-behaved client never makes, for the
// hardening tests: pipes and memfds where eventfds belong, a blocking eventfd
// one step from overflow, a memfd shrunk under a mapping, a half-closed
// socket. The same koffi libc as ffi/, plus the few calls the server needs not.
import { koffi, libc, EFD_CLOEXEC } from '../../ffi/libc.ts';
import { SysError } from '../../ffi/index.ts';

const lib = koffi.load('libc.so.6');
const pipe2 = lib.func('int pipe2(_Out_ int *fds, int flags)');
const pwriteFn = lib.func('intptr_t pwrite(int fd, const void *buf, size_t len, int64_t offset)');

const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const F_GETFL = 3;
const F_SETFL = 4;
const SHUT_WR = 1;

function check(what: string, ret: number | bigint): number {
  if (ret === -1 || ret === -1n) throw new SysError(what, koffi.errno());
  return Number(ret);
}

/** A pipe: [read end, write end]. Non-blocking unless asked otherwise. */
export function pipe(opts: { blocking?: boolean } = {}): [number, number] {
  const fds = new Int32Array(2);
  check('pipe2', pipe2(fds, O_CLOEXEC | (opts.blocking ? 0 : O_NONBLOCK)));
  return [fds[0], fds[1]];
}

function setNonBlocking(fd: number, on: boolean): void {
  const fl = check('fcntl(F_GETFL)', libc.fcntl(fd, F_GETFL, 0));
  check('fcntl(F_SETFL)', libc.fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK));
}

/** Fills a pipe through its write end until the next write would block; returns the bytes written. */
export function fillPipe(writeEnd: number): number {
  setNonBlocking(writeEnd, true);
  const chunk = new Uint8Array(4096);
  let total = 0;
  for (;;) {
    const n = Number(libc.write(writeEnd, chunk, chunk.length));
    if (n <= 0) break;
    total += n;
  }
  return total;
}

/** Makes a descriptor blocking again (the flag lives in the open file, shared with whoever holds a copy). */
export function makeBlocking(fd: number): void {
  setNonBlocking(fd, false);
}

/**
 * A blocking eventfd whose counter is at its maximum (2^64 - 2): the next
 * write(2) of any increment blocks until somebody reads it.
 */
export function saturatedBlockingEventFd(): number {
  const fd = check('eventfd', libc.eventfd(0, EFD_CLOEXEC));
  const v = new BigUint64Array([0xfffffffffffffffen]);
  check('write(eventfd)', libc.write(fd, v, 8));
  return fd;
}

/** Reads whatever is waiting (up to `max` bytes); 0 when nothing is. */
export function drain(fd: number, max = 1 << 16): number {
  setNonBlocking(fd, true);
  const buf = new Uint8Array(Math.max(8, max));
  const n = Number(libc.read(fd, buf, buf.length));
  return n > 0 ? n : 0;
}

/** Writes bytes at a file offset (fills a memfd without mapping it). */
export function pwrite(fd: number, bytes: Uint8Array, offset: number): void {
  if (check('pwrite', pwriteFn(fd, bytes, bytes.length, offset)) !== bytes.length) throw new SysError('pwrite', 5 /* EIO */);
}

export function truncate(fd: number, size: number): void {
  check('ftruncate', libc.ftruncate(fd, size));
}

/** Ends our sending half: the peer reads EOF, we can still read what it sends. */
export function shutdownWrite(fd: number): void {
  check('shutdown', libc.shutdown(fd, SHUT_WR));
}
