// MSI (the capability, not MSI-X): up to 32 vectors sharing one message, with
// optional per-vector mask and pending bits in config space. QEMU emulates the
// capability for the guest and binds eventfds with SET_IRQS index MSI.
import { IRQ_INFO_EVENTFD } from '../protocol/index.ts';
import { IrqLines, signalOutcome } from './irq-lines.ts';
import type { IrqSource } from './set-irqs.ts';
import { badIndex, type IrqEvent, type IrqOutcome } from './events.ts';
import type { IrqHook } from './hooks.ts';

/** What the MSI model needs from the function it belongs to (the capability's registers live there). */
export interface MsiHost {
  /** Vectors the driver enabled (Multiple Message Enable; 0 while MSI is off). */
  enabledVectors(): number;
  /** The per-vector Mask Bits, or undefined when the capability has none. */
  maskBits(): number | undefined;
  /** The Pending Bits (meaningful only with per-vector masking). */
  pendingBits(): number;
  setPendingBits(bits: number): void;
  busMaster(): boolean;
  emit(e: IrqEvent): void;
  hook: IrqHook;
}

export class Msi implements IrqSource {
  readonly lines: IrqLines;
  readonly infoFlags = IRQ_INFO_EVENTFD;

  constructor(readonly count: number, private readonly host: MsiHost) {
    this.lines = new IrqLines(count);
  }

  /** Vectors the driver enabled (Multiple Message Enable). */
  get enabledVectors(): number {
    return this.host.enabledVectors();
  }

  /** The device raises vector v (a RangeError beyond the capability's vectors: never wrapped). */
  fire(v: number): IrqOutcome {
    const bad = badIndex('msi', v, this.count);
    if (bad) throw new RangeError(bad);
    return this.host.hook.raise('msi', v, (ignoreMask) => this.fireNow(v, ignoreMask));
  }

  private fireNow(v: number, ignoreMask: boolean): IrqOutcome {
    let outcome: IrqOutcome;
    const mask = this.host.maskBits();
    if (v >= this.enabledVectors) outcome = 'disabled';
    else if (!this.host.busMaster()) outcome = 'blocked';
    else if (!ignoreMask && mask !== undefined && mask & (1 << v)) {
      this.host.setPendingBits(this.host.pendingBits() | (1 << v));
      outcome = 'pending';
    } else {
      const r = this.lines.signal(v);
      outcome = signalOutcome(r);
    }
    this.host.emit({ kind: 'msi', index: v, outcome });
    return outcome;
  }

  /** Mask bits changed: send what is pending and now unmasked. */
  maskWritten(): void {
    const mask = this.host.maskBits();
    if (mask === undefined || !this.host.busMaster()) return;
    const pending = this.host.pendingBits();
    for (let v = 0; v < this.enabledVectors; v++) {
      if (pending & (1 << v) && !(mask & (1 << v))) {
        this.host.setPendingBits(this.host.pendingBits() & ~(1 << v));
        const r = this.lines.signal(v);
        this.host.emit({ kind: 'msi', index: v, outcome: r === 'sent' ? 'delivered' : 'unbound', detail: 'was pending' });
      }
    }
  }

  loopback(v: number): void {
    this.lines.signal(v);
  }

  detach(): void {
    this.lines.releaseAll();
  }
}
