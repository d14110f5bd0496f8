// The ERR and REQ indexes: one eventfd each, no masking. ERR tells the client
// the device hit an unrecoverable error; REQ asks it to release the device
// (QEMU turns it into a hot-unplug request to the guest).
import { IRQ_INFO_EVENTFD } from '../protocol/index.ts';
import { IrqLines, signalOutcome } from './irq-lines.ts';
import type { IrqSource } from './set-irqs.ts';
import type { IrqEvent, IrqKind } from './events.ts';
import type { IrqHook } from './hooks.ts';

export class SignalIrq implements IrqSource {
  readonly lines: IrqLines;
  readonly infoFlags = IRQ_INFO_EVENTFD;

  constructor(readonly kind: IrqKind, readonly count: 0 | 1, private readonly emit: (e: IrqEvent) => void, private readonly hook: IrqHook) {
    this.lines = new IrqLines(count);
  }

  fire(): void {
    if (this.count === 0) return;
    this.hook.raise(this.kind, 0, () => {
      const r = this.lines.signal(0);
      const outcome = signalOutcome(r);
      this.emit({ kind: this.kind, index: 0, outcome });
      return outcome;
    });
  }

  loopback(): void {
    this.lines.signal(0);
  }

  detach(): void {
    this.lines.releaseAll();
  }
}
