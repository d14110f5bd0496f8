// MSI (the capability, not MSI-X): up to 32 vectors sharing one message, with
// optional per-vector mask and pending bits in config space. QEMU emulates the
// capability for the guest and binds eventfds with SET_IRQS index MSI.
import { IRQ_INFO_EVENTFD } from '../protocol/index.ts';
import type { ConfigSpace } from '../pci/config-space.ts';
import { PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE, PCI_MSI_FLAGS_QSIZE, PCI_MSI_FLAGS_64BIT, PCI_MSI_FLAGS_MASKBIT } from '../pci/regs.ts';
import { IrqLines } from './irq-lines.ts';
import type { IrqSource } from './set-irqs.ts';
import type { IrqEvent, IrqOutcome } from './events.ts';
import type { IrqGate } from '../faults/irq-gate.ts';

export class Msi implements IrqSource {
  readonly lines: IrqLines;
  readonly infoFlags = IRQ_INFO_EVENTFD;

  constructor(readonly count: number, private readonly config: ConfigSpace, private readonly capOffset: number,
    private readonly busMaster: () => boolean, private readonly emit: (e: IrqEvent) => void, private readonly gate: IrqGate) {
    this.lines = new IrqLines(count);
  }

  private get flags(): number {
    return this.config.u16(this.capOffset + PCI_MSI_FLAGS);
  }

  /** Vectors the driver enabled (Multiple Message Enable). */
  get enabledVectors(): number {
    const f = this.flags;
    return f & PCI_MSI_FLAGS_ENABLE ? 1 << ((f & PCI_MSI_FLAGS_QSIZE) >> 4) : 0;
  }

  private maskOffset(): number | undefined {
    const f = this.flags;
    if (!(f & PCI_MSI_FLAGS_MASKBIT)) return undefined;
    return this.capOffset + (f & PCI_MSI_FLAGS_64BIT ? 16 : 12);
  }

  fire(v: number): IrqOutcome {
    return this.gate.raise('msi', v, (ignoreMask) => this.fireNow(v, ignoreMask));
  }

  private fireNow(v: number, ignoreMask: boolean): IrqOutcome {
    let outcome: IrqOutcome;
    const maskAt = this.maskOffset();
    if (v >= this.enabledVectors) outcome = 'disabled';
    else if (!this.busMaster()) outcome = 'blocked';
    else if (!ignoreMask && maskAt !== undefined && this.config.u32(maskAt) & (1 << v)) {
      this.config.setU32(maskAt + 4, this.config.u32(maskAt + 4) | (1 << v));
      outcome = 'pending';
    } else {
      const r = this.lines.signal(v);
      outcome = r === 'sent' ? 'delivered' : r === 'no-eventfd' ? 'unbound' : 'failed';
    }
    this.emit({ kind: 'msi', index: v, outcome });
    return outcome;
  }

  /** Mask bits changed: send what is pending and now unmasked. */
  maskWritten(): void {
    const maskAt = this.maskOffset();
    if (maskAt === undefined || !this.busMaster()) return;
    const pending = this.config.u32(maskAt + 4);
    const mask = this.config.u32(maskAt);
    for (let v = 0; v < this.enabledVectors; v++) {
      if (pending & (1 << v) && !(mask & (1 << v))) {
        this.config.setU32(maskAt + 4, this.config.u32(maskAt + 4) & ~(1 << v));
        const r = this.lines.signal(v);
        this.emit({ kind: 'msi', index: v, outcome: r === 'sent' ? 'delivered' : 'unbound', detail: 'was pending' });
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
