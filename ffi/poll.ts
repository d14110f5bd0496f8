// fd readiness through libuv (koffi's poll handle), so descriptors we own join
// Node's event loop like sockets do.
import { koffi } from './libc.ts';

export interface Readiness {
  readable: boolean;
  writable: boolean;
  disconnect: boolean;
}

type PollHandle = ReturnType<typeof koffi.node.poll>;

export class FdPoller {
  private handle: PollHandle | null;
  private wantWrite = false;

  constructor(fd: number, private readonly onEvent: (ev: Readiness) => void, private readonly onError: (err: unknown) => void) {
    this.handle = koffi.node.poll(fd, { readable: true, disconnect: true }, this.dispatch as never);
  }

  /** Ask for writable events too (a send backlog exists) or stop asking. */
  setWantWrite(want: boolean): void {
    if (!this.handle || want === this.wantWrite) return;
    this.wantWrite = want;
    this.handle.start({ readable: true, disconnect: true, writable: want }, this.dispatch as never);
  }

  /** Stop reading while the consumer is busy (back-pressure); resume later. */
  pause(): void {
    this.handle?.stop();
  }

  resume(): void {
    this.handle?.start({ readable: true, disconnect: true, writable: this.wantWrite }, this.dispatch as never);
  }

  unref(): void {
    this.handle?.unref();
  }

  ref(): void {
    this.handle?.ref();
  }

  /** Must run before the fd is closed: libuv must forget the fd first. */
  close(): void {
    if (!this.handle) return;
    this.handle.close();
    this.handle = null;
  }

  // koffi calls back with (status, events) although its types say (events);
  // an exception thrown in here can vanish silently, so everything is caught.
  private dispatch = (status: unknown, events?: Readiness): void => {
    try {
      // libuv reports a peer that hung up with our data unread as an error
      // status; what the peer sent before that is still there to read, so
      // it is treated as "readable, disconnected": the reader finds the data,
      // then the end.
      if (typeof status === 'number' && status < 0) {
        this.onEvent({ readable: true, writable: false, disconnect: true });
        return;
      }
      this.onEvent((events ?? status) as Readiness);
    } catch (err) {
      this.onError(err);
    }
  };
}
