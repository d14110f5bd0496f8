// UNIX errno values carried in vfio-user error replies (Linux numbering; the
// spec says replies carry the host's errno and vfio-user peers share a host).
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  EPIPE: 32,
  ERANGE: 34,
  ENOSYS: 38,
  EPROTO: 71,
  EMSGSIZE: 90,
  ENOTSUP: 95,
  ECONNRESET: 104,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
} as const;

const names = new Map<number, string>(Object.entries(Errno).map(([k, v]) => [v, k]));

export function errnoName(errno: number): string {
  return names.get(errno) ?? `errno ${errno}`;
}

/**
 * An error that becomes a vfio-user error reply: the errno goes on the wire,
 * the message goes to the log for the person reading it.
 */
export class VfioError extends Error {
  constructor(readonly errno: number, message: string) {
    super(`${errnoName(errno)}: ${message}`);
    this.name = 'VfioError';
  }
}

export function einval(message: string): VfioError {
  return new VfioError(Errno.EINVAL, message);
}
