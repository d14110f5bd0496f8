// eventfds: how vfio-user delivers MSI-X/INTx/ERR/REQ interrupts. Signalling
// one is a single 8-byte write of a counter increment.
import { readlinkSync } from 'node:fs';
import { koffi, libc, EFD_CLOEXEC, EFD_NONBLOCK } from './libc.ts';
import { check, SysError, Errno, EAGAIN } from './errors.ts';
import { closeFd, setNonBlocking } from './fd.ts';
import { FdPoller } from './poll.ts';

const one = new BigUint64Array([1n]);
const scratch = new BigUint64Array(1);

export function createEventFd(): number {
  return check('eventfd', libc.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

/**
 * Adds `count` to an eventfd's counter. Returns false if the counter would
 * overflow (the reader is far behind); throws on a bad descriptor.
 */
export function signalEventFd(fd: number, count = 1): boolean {
  const value = count === 1 ? one : (scratch[0] = BigInt(count), scratch);
  const n = Number(libc.write(fd, value, 8));
  if (n === 8) return true;
  const e = koffi.errno();
  if (n === -1 && e === EAGAIN) return false;
  throw new SysError('write(eventfd)', e, `fd ${fd}`);
}

/**
 * Checks that a descriptor a peer sent is an eventfd, and makes writes to it
 * non-blocking (the flag is on the shared open file; QEMU's eventfds already
 * have it): a full counter must fail a signal, not stall the server.
 * Throws a SysError (EINVAL) for anything else.
 */
export function adoptEventFd(fd: number): void {
  let target = '';
  try {
    target = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    // reported below
  }
  if (target !== 'anon_inode:[eventfd]') throw new SysError('SET_IRQS', Errno.EINVAL, `descriptor ${fd} is ${target || 'unknown'}, not an eventfd`);
  setNonBlocking(fd, `eventfd ${fd}`);
}

/** Reads and resets the counter; 0 when nothing was signalled. */
export function drainEventFd(fd: number): number {
  const buf = new BigUint64Array(1);
  const n = Number(libc.read(fd, buf, 8));
  if (n === 8) return Number(buf[0]);
  const e = koffi.errno();
  if (n === -1 && e === EAGAIN) return 0;
  throw new SysError('read(eventfd)', e, `fd ${fd}`);
}

/** An eventfd we own and watch, e.g. the client side of an interrupt. */
export class EventFd {
  readonly fd: number;
  private poller: FdPoller | null = null;
  /** Total signals received since creation. */
  total = 0;

  constructor() {
    this.fd = createEventFd();
  }

  /** Calls back with the number of signals each time the counter becomes non-zero. */
  watch(onSignal: (count: number) => void, onError: (err: unknown) => void = () => {}): this {
    this.poller?.close();
    this.poller = new FdPoller(this.fd, () => {
      const n = drainEventFd(this.fd);
      if (n > 0) {
        this.total += n;
        onSignal(n);
      }
    }, onError);
    return this;
  }

  /** Reads pending signals now (without waiting for the event loop). */
  poll(): number {
    const n = drainEventFd(this.fd);
    this.total += n;
    return n;
  }

  signal(count = 1): boolean {
    return signalEventFd(this.fd, count);
  }

  unref(): this {
    this.poller?.unref();
    return this;
  }

  close(): void {
    this.poller?.close();
    this.poller = null;
    closeFd(this.fd);
  }
}
