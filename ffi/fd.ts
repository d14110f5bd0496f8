// File descriptor housekeeping: closing, probing, counting (leak checks).
import { readdirSync } from 'node:fs';
import { libc, F_GETFD, F_DUPFD_CLOEXEC } from './libc.ts';
import { check } from './errors.ts';

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

/** Number of descriptors this process has open, for leak tests. */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length - 1; // minus the directory's own fd
}
