// VFIO_USER_DEVICE_SET_IRQS semantics, the same for every irq index (the
// rules of the vfio ioctl it mirrors): which sub-indexes, which action, which
// data, and what is invalid.
import {
  Errno, VfioError, irqIndexName, type IrqSet,
  IRQ_SET_DATA_NONE, IRQ_SET_DATA_BOOL, IRQ_SET_DATA_EVENTFD,
  IRQ_SET_ACTION_MASK, IRQ_SET_ACTION_UNMASK, IRQ_SET_ACTION_TRIGGER, IRQ_INFO_MASKABLE,
} from '../protocol/index.ts';
import type { IrqLines } from './irq-lines.ts';

/** One vfio irq index as SET_IRQS sees it. */
export interface IrqSource {
  readonly count: number;
  /** IRQ_INFO_* flags reported by GET_IRQ_INFO. */
  readonly infoFlags: number;
  readonly lines: IrqLines;
  /** DATA_NONE/BOOL + TRIGGER: the client asks for the interrupt to be signalled. */
  loopback(sub: number): void;
  /** ACTION_MASK / ACTION_UNMASK (only when infoFlags has MASKABLE). */
  mask?(sub: number): void;
  unmask?(sub: number): void;
  /** An eventfd was (re)bound to `sub`. */
  bound?(sub: number): void;
  /** count 0 + DATA_NONE + TRIGGER: the client turns the whole index off. */
  disable?(): void;
}

function bad(set: IrqSet, why: string): VfioError {
  return new VfioError(Errno.EINVAL, `DEVICE_SET_IRQS ${irqIndexName(set.index)} start ${set.start} count ${set.count}: ${why}`);
}

/**
 * Checks everything first and throws without side effects (the caller then
 * closes `fds`); on success the source owns the descriptors.
 */
export function applySetIrqs(src: IrqSource, set: IrqSet, fds: number[]): void {
  const data = set.flags & (IRQ_SET_DATA_NONE | IRQ_SET_DATA_BOOL | IRQ_SET_DATA_EVENTFD);
  const action = set.flags & (IRQ_SET_ACTION_MASK | IRQ_SET_ACTION_UNMASK | IRQ_SET_ACTION_TRIGGER);

  if (set.count === 0) {
    if (data !== IRQ_SET_DATA_NONE) throw bad(set, 'count 0 is only valid with DATA_NONE');
    if (set.start !== 0) throw bad(set, 'count 0 (disable) needs start 0');
    if (action === IRQ_SET_ACTION_TRIGGER) {
      src.lines.releaseAll();
      src.disable?.();
    }
    return;
  }
  if (src.count === 0) throw bad(set, 'the device has no interrupts of this type');
  if (set.start >= src.count || set.start + set.count > src.count) {
    throw bad(set, `range exceeds the ${src.count} interrupt(s) of this index`);
  }
  if (action !== IRQ_SET_ACTION_TRIGGER) {
    if (!(src.infoFlags & IRQ_INFO_MASKABLE) || !src.mask || !src.unmask) throw bad(set, 'this index is not maskable');
    if (data === IRQ_SET_DATA_EVENTFD) throw bad(set, 'mask/unmask eventfds are not supported');
  }
  if (data === IRQ_SET_DATA_EVENTFD) {
    if (fds.length !== 0 && fds.length !== set.count) throw bad(set, `${fds.length} eventfds for ${set.count} interrupts`);
    if (fds.length === 0) {
      src.lines.release(set.start, set.count);
    } else {
      src.lines.assign(set.start, fds);
      for (let i = 0; i < set.count; i++) src.bound?.(set.start + i);
    }
    return;
  }
  for (let i = 0; i < set.count; i++) {
    if (data === IRQ_SET_DATA_BOOL && !set.data![i]) continue;
    const sub = set.start + i;
    if (action === IRQ_SET_ACTION_TRIGGER) src.loopback(sub);
    else if (action === IRQ_SET_ACTION_MASK) src.mask!(sub);
    else src.unmask!(sub);
  }
}
