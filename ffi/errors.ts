// A failed system call, carrying its errno so callers can map it to the
// protocol (vfio-user replies carry UNIX errnos) and people can read it.
import { koffi } from './libc.ts';
import { Errno, errnoName } from './errno.ts';

export { Errno, errnoName };

export class SysError extends Error {
  readonly errno: number;
  readonly syscall: string;
  constructor(syscall: string, errno: number, detail?: string) {
    super(`${syscall}${detail ? ` (${detail})` : ''} failed: ${errnoName(errno)}`);
    this.name = 'SysError';
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** Throws a SysError when a libc call returned -1. */
export function check(syscall: string, ret: number | bigint, detail?: string): number {
  if (ret === -1 || ret === -1n) throw new SysError(syscall, koffi.errno(), detail);
  return Number(ret);
}

export const { EAGAIN, EINTR } = Errno;
