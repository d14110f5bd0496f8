// MSI-X as the PCI spec defines it: a table of vectors (address, data, vector
// control with a mask bit) and a Pending Bit Array, both in a BAR, plus the
// enable and function-mask bits in the capability. A vector fired while
// masked sets its pending bit and is sent when it becomes unmasked.
//
// Under QEMU the table is emulated by QEMU itself: table accesses never reach
// us, masks stay inside QEMU, and QEMU re-binds a vector's eventfd with
// SET_IRQS each time the guest unmasks it (FINDINGS section 1). Until the
// client touches the table through us, the table it emulates is the one that
// counts: the device reads the vector's control word from it by DMA (the
// table sits in our own BAR, at the address the guest programmed) before it
// sends, holds the vector pending if it is masked, and sends it when the
// client re-binds the vector's eventfd (QEMU's unmask). Once the client
// accesses the table through us, the table here is authoritative.
import { IRQ_INFO_EVENTFD, IRQ_INFO_MASKABLE } from '../protocol/index.ts';
import { IrqLines, signalOutcome } from './irq-lines.ts';
import type { IrqSource } from './set-irqs.ts';
import { badIndex, type IrqEvent, type IrqOutcome } from './events.ts';
import type { IrqHook } from './hooks.ts';

// The layout of an MSI-X table entry (PCI 3.0 6.8.2.6; names of <linux/pci_regs.h>).
export const PCI_MSIX_ENTRY_SIZE = 16;
export const PCI_MSIX_ENTRY_LOWER_ADDR = 0;
export const PCI_MSIX_ENTRY_UPPER_ADDR = 4;
export const PCI_MSIX_ENTRY_DATA = 8;
export const PCI_MSIX_ENTRY_VECTOR_CTRL = 12;
export const PCI_MSIX_ENTRY_CTRL_MASKBIT = 0x1;

/** What the MSI-X model needs from the function it belongs to (its capability lives there). */
export interface MsixHost {
  /** MSI-X Enable in the capability's Message Control. */
  enabled(): boolean;
  /** Function Mask in Message Control. */
  functionMasked(): boolean;
  busMaster(): boolean;
  emit(e: IrqEvent): void;
  /**
   * Reads vector v's mask bit from the table the client emulates (by DMA);
   * undefined when it cannot be known.
   */
  probeMask?(v: number): Promise<boolean | undefined>;
  hook: IrqHook;
  /** Hold (pending) what fires while bus mastering is off, sent once it is on (default: dropped). */
  latchWhileBusMasterOff?(): boolean;
}

export class Msix implements IrqSource {
  readonly lines: IrqLines;
  readonly infoFlags = IRQ_INFO_EVENTFD | IRQ_INFO_MASKABLE;
  readonly table: Uint8Array;
  private readonly tableView: DataView;
  readonly pba: Uint8Array;
  /** SET_IRQS ACTION_MASK state, on top of the table's own mask bits. */
  private readonly clientMask: boolean[];
  /** The client accessed the table through us: its mask bits are real. */
  tableOwned = false;
  /** Probes of the client's table, chained so vectors leave in the order raised. */
  private probes: Promise<void> = Promise.resolve();

  constructor(readonly count: number, private readonly host: MsixHost) {
    this.lines = new IrqLines(count);
    this.table = new Uint8Array(count * PCI_MSIX_ENTRY_SIZE);
    this.tableView = new DataView(this.table.buffer);
    this.pba = new Uint8Array(Math.ceil(count / 64) * 8);
    this.clientMask = new Array(count).fill(false);
    this.reset();
  }

  get tableSize(): number {
    return this.table.length;
  }

  get pbaSize(): number {
    return this.pba.length;
  }

  get enabled(): boolean {
    return this.host.enabled();
  }

  get functionMasked(): boolean {
    return this.host.functionMasked();
  }

  vectorControlMasked(v: number): boolean {
    return (this.tableView.getUint32(v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL, true) & PCI_MSIX_ENTRY_CTRL_MASKBIT) !== 0;
  }

  /** Masked as far as the device knows without asking the client. */
  masked(v: number): boolean {
    return this.functionMasked || this.clientMask[v] || (this.tableOwned && this.vectorControlMasked(v));
  }

  private get mustProbe(): boolean {
    return !this.tableOwned && this.host.probeMask !== undefined;
  }

  pending(v: number): boolean {
    return (this.pba[v >> 3] & (1 << (v & 7))) !== 0;
  }

  private setPending(v: number, on: boolean): void {
    if (on) this.pba[v >> 3] |= 1 << (v & 7);
    else this.pba[v >> 3] &= ~(1 << (v & 7));
  }

  /** The device raises vector v (a RangeError if the table has no such vector: never wrapped). */
  fire(v: number): IrqOutcome {
    const bad = badIndex('msix', v, this.count);
    if (bad) throw new RangeError(bad);
    return this.host.hook.raise('msix', v, (ignoreMask) => this.fireNow(v, ignoreMask));
  }

  private fireNow(v: number, ignoreMask: boolean): IrqOutcome {
    let outcome: IrqOutcome;
    if (!this.enabled) outcome = 'disabled';
    else if (!this.host.busMaster()) return this.blocked(v);
    else if (ignoreMask) outcome = this.send(v);
    else if (this.masked(v)) {
      this.setPending(v, true);
      outcome = 'pending';
    } else if (this.mustProbe) {
      this.probeThenSend(v, false);
      return 'queued';
    } else outcome = this.send(v);
    this.host.emit({ kind: 'msix', index: v, outcome });
    return outcome;
  }

  /** Asks the client's table whether v is masked, then holds or sends it. */
  private probeThenSend(v: number, wasPending: boolean): void {
    // Reads go out at once (many in flight); decisions are taken in order.
    const probe = this.host.probeMask!(v).catch(() => undefined);
    this.probes = this.probes.then(async () => {
      const masked = await probe;
      let outcome: IrqOutcome;
      if (!this.enabled) outcome = 'disabled';
      else if (!this.host.busMaster()) {
        this.blocked(v);
        return;
      } else if (masked === true || this.masked(v)) {
        this.setPending(v, true);
        outcome = 'pending';
      } else {
        if (wasPending) this.setPending(v, false);
        outcome = this.send(v);
      }
      this.host.emit({ kind: 'msix', index: v, outcome, detail: wasPending ? 'was pending' : masked === undefined ? 'mask unknown' : undefined });
    });
  }

  /** Bus mastering is off: the message cannot leave; held in the PBA when the device latches, else lost. */
  private blocked(v: number): IrqOutcome {
    const latch = this.host.latchWhileBusMasterOff?.() === true;
    if (latch) this.setPending(v, true);
    const outcome = latch ? 'pending' : 'blocked';
    this.host.emit({ kind: 'msix', index: v, outcome, detail: latch ? 'bus mastering is off: latched until it is on' : undefined });
    return outcome;
  }

  /** Waits for vectors whose mask is being read from the client (tests). */
  settled(): Promise<void> {
    return this.probes;
  }

  private send(v: number): IrqOutcome {
    // Through an eventfd the message itself is the client's business: a
    // misrouted MSI-X interrupt arrives on another vector -- one that exists
    // (a rule's vector is checked when it is added; never wrapped).
    const to = this.host.hook.message?.('msix', v)?.vector ?? v;
    if (badIndex('msix', to, this.count)) return 'failed';
    const r = this.lines.signal(to);
    return signalOutcome(r);
  }

  /** Clears v's pending bit after delivery, unless the hook keeps it (a stuck-pending fault). */
  private delivered(v: number): void {
    if (!this.host.hook.keepPending?.('msix', v)) this.setPending(v, false);
  }

  /** Sends what became deliverable: pending vectors that are no longer masked. */
  private deliverPending(): void {
    if (!this.enabled || !this.host.busMaster()) return;
    for (let v = 0; v < this.count; v++) {
      if (!this.pending(v) || this.masked(v)) continue;
      if (this.mustProbe) {
        this.probeThenSend(v, true);
        continue;
      }
      this.delivered(v);
      this.host.emit({ kind: 'msix', index: v, outcome: this.send(v), detail: 'was pending' });
    }
  }

  /** The capability's control register changed (enable, function mask). */
  controlWritten(): void {
    this.deliverPending();
  }

  /** Bus mastering came on: vectors latched meanwhile leave (if unmasked). */
  busMasterEnabled(): void {
    this.deliverPending();
  }

  // ---- IrqSource (SET_IRQS) ----------------------------------------------
  loopback(v: number): void {
    this.lines.signal(v);
  }

  mask(v: number): void {
    this.clientMask[v] = true;
  }

  unmask(v: number): void {
    this.clientMask[v] = false;
    this.deliverPending();
  }

  /**
   * QEMU binds a vector's eventfd each time the guest unmasks it: a vector the
   * device held pending can go now.
   */
  bound(v: number): void {
    if (!this.tableOwned && this.pending(v) && !this.masked(v) && this.enabled && this.host.busMaster()) {
      this.delivered(v);
      this.host.emit({ kind: 'msix', index: v, outcome: this.send(v), detail: 'was pending' });
    }
  }

  disable(): void {
    this.clientMask.fill(false);
  }

  // ---- table and PBA as the BAR shows them --------------------------------
  tableRead(offset: number, length: number): Uint8Array {
    this.tableOwned = true;
    return this.table.slice(offset, offset + length);
  }

  tableWrite(offset: number, data: Uint8Array): void {
    this.tableOwned = true;
    this.table.set(data.subarray(0, this.table.length - offset), offset);
    this.deliverPending();
  }

  pbaRead(offset: number, length: number): Uint8Array {
    return this.pba.slice(offset, offset + length);
  }

  // PBA writes are ignored: the array is read-only (PCI 3.0 6.8.2.10).

  reset(): void {
    this.table.fill(0);
    for (let v = 0; v < this.count; v++) {
      this.tableView.setUint32(v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL, PCI_MSIX_ENTRY_CTRL_MASKBIT, true);
    }
    this.pba.fill(0);
    this.clientMask.fill(false);
    this.tableOwned = false;
  }

  /** The client is gone: its eventfds go with it. */
  detach(): void {
    this.lines.releaseAll();
  }
}
