// Errors that become vfio-user error replies. The errno numbers and names are
// the one table in ffi/errno.ts (pure data): the spec says replies carry the
// host's errno, and vfio-user peers share a host.
import { Errno, errnoName, errnoByName } from '../../ffi/errno.ts';

export { Errno, errnoName, errnoByName };

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
