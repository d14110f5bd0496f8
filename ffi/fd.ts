// File descriptor housekeeping: closing, probing, counting (leak checks).
import { readdirSync } from 'node:fs';
import { libc, koffi, F_GETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC, O_NONBLOCK } from './libc.ts';
import { check, SysError } from './errors.ts';

export function closeFd(fd: number): void {
  if (fd >= 0) libc.close(fd);
}

export function closeFds(fds: Iterable<number>): void {
  for (const fd of fds) closeFd(fd);
}

export function isFdOpen(fd: number): boolean {
  return libc.fcntl(fd, F_GETFD, 0) !== -1;
}

/** A new descriptor for the same open file (close-on-exec). */
export function dupFd(fd: number): number {
  return check('fcntl(F_DUPFD_CLOEXEC)', libc.fcntl(fd, F_DUPFD_CLOEXEC, 3));
}

/**
 * Makes reads and writes on a descriptor fail with EAGAIN instead of blocking.
 * The flag lives on the open file, so a peer's descriptor that already has it
 * is left alone (no write to a file we share).
 */
export function setNonBlocking(fd: number, what: string): void {
  const flags = libc.fcntl(fd, F_GETFL, 0);
  if (flags === -1 || (!(flags & O_NONBLOCK) && libc.fcntl(fd, F_SETFL, flags | O_NONBLOCK) === -1)) {
    throw new SysError('fcntl(O_NONBLOCK)', koffi.errno(), what);
  }
}

/** Number of descriptors this process has open, for leak tests. */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length - 1; // minus the directory's own fd
}
