// Legacy INTx: a level-triggered wire. The device asserts it until the cause
// is cleared; the Interrupt Status bit in the status register follows the
// level; the Interrupt Disable bit in the command register keeps it from
// reaching the interrupt controller. Through vfio the wire becomes an eventfd
// that is automatically masked when signalled, and the client unmasks it
// (SET_IRQS ACTION_UNMASK) once the guest has serviced it (its EOI).
import { IRQ_INFO_EVENTFD, IRQ_INFO_MASKABLE, IRQ_INFO_AUTOMASKED } from '../protocol/index.ts';
import { IrqLines } from './irq-lines.ts';
import type { IrqSource } from './set-irqs.ts';
import type { IrqEvent } from './events.ts';
import type { IrqHook } from './hooks.ts';

/** What INTx needs from the function it belongs to (command and status registers). */
export interface IntxHost {
  /** Interrupt Disable in the command register. */
  disabled(): boolean;
  /** Interrupt Status in the status register follows the level. */
  setStatus(asserted: boolean): void;
  emit(e: IrqEvent): void;
  hook: IrqHook;
}

export class Intx implements IrqSource {
  readonly lines: IrqLines;
  readonly infoFlags = IRQ_INFO_EVENTFD | IRQ_INFO_MASKABLE | IRQ_INFO_AUTOMASKED;
  private level = false;
  /** vfio's automask: set when signalled, cleared by the client's unmask. */
  private masked = false;

  constructor(readonly count: 0 | 1, private readonly host: IntxHost) {
    this.lines = new IrqLines(count);
  }

  get asserted(): boolean {
    return this.level;
  }

  private get disabled(): boolean {
    return this.host.disabled();
  }

  assert(): void {
    if (this.count === 0) return;
    this.host.hook.raise('intx', 0, () => {
      this.level = true;
      this.host.setStatus(true);
      this.evaluate(true);
      return 'delivered';
    });
  }

  deassert(): void {
    this.level = false;
    this.host.setStatus(false);
  }

  /** Signals the eventfd if the line is up and nothing holds it. */
  private evaluate(report: boolean): void {
    if (!this.level) return;
    if (this.disabled) {
      if (report) this.host.emit({ kind: 'intx', index: 0, outcome: 'pending', detail: 'INTx disabled in the command register' });
      return;
    }
    if (this.masked) {
      if (report) this.host.emit({ kind: 'intx', index: 0, outcome: 'pending', detail: 'masked until the client unmasks' });
      return;
    }
    const r = this.lines.signal(0);
    if (r === 'sent') this.masked = true;
    this.host.emit({ kind: 'intx', index: 0, outcome: r === 'sent' ? 'delivered' : r === 'no-eventfd' ? 'unbound' : 'failed' });
  }

  /** The command register changed: clearing Interrupt Disable lets a held level through. */
  commandWritten(): void {
    this.evaluate(false);
  }

  loopback(): void {
    this.lines.signal(0);
  }

  mask(): void {
    this.masked = true;
  }

  unmask(): void {
    this.masked = false;
    this.evaluate(false);
  }

  disable(): void {
    this.masked = false;
  }

  reset(): void {
    this.level = false;
    this.masked = false;
  }

  detach(): void {
    this.lines.releaseAll();
    this.masked = false;
  }
}
