// The eventfds a client bound to one vfio irq index (SET_IRQS DATA_EVENTFD),
// and what signalling them did. Interrupt models decide *whether* to deliver;
// this only knows *how*.
import { closeFd, signalEventFd } from '../../ffi/index.ts';
import type { IrqOutcome } from './events.ts';

export type SignalResult = 'sent' | 'no-eventfd' | 'overflow' | 'error';

/** What a signal attempt means for the interrupt: delivered, no eventfd bound, or failed. */
export function signalOutcome(r: SignalResult): IrqOutcome {
  return r === 'sent' ? 'delivered' : r === 'no-eventfd' ? 'unbound' : 'failed';
}

export class IrqLines {
  private fds: (number | undefined)[];

  constructor(readonly count: number) {
    this.fds = new Array(count).fill(undefined);
  }

  has(sub: number): boolean {
    return this.fds[sub] !== undefined;
  }

  get assigned(): number {
    return this.fds.filter((fd) => fd !== undefined).length;
  }

  /** Binds eventfds to [start, start+fds.length); replaced descriptors are closed. */
  assign(start: number, fds: readonly number[]): void {
    fds.forEach((fd, i) => {
      const old = this.fds[start + i];
      if (old !== undefined && old !== fd) closeFd(old);
      this.fds[start + i] = fd;
    });
  }

  /** Unbinds [start, start+count) and closes the descriptors. */
  release(start: number, count: number): void {
    for (let i = start; i < start + count; i++) {
      const fd = this.fds[i];
      if (fd !== undefined) closeFd(fd);
      this.fds[i] = undefined;
    }
  }

  releaseAll(): void {
    this.release(0, this.count);
  }

  signal(sub: number): SignalResult {
    const fd = this.fds[sub];
    if (fd === undefined) return 'no-eventfd';
    try {
      return signalEventFd(fd) ? 'sent' : 'overflow';
    } catch {
      return 'error';
    }
  }
}
