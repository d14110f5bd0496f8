// IMS, the Interrupt Message Store: a device-specific table of interrupt
// messages, one 16-byte slot per interrupt (address low, address high, data,
// control with a mask bit: the IDXD IMS layout). The device raises slot i the
// way hardware raises any MSI: one 4-byte memory write of the slot's data to
// the slot's address, through its bus-master address space (a vfio-user
// DMA_WRITE), and only with bus mastering on. A masked slot keeps a pending
// bit and fires when unmasked.
//
// Two places for the table: device memory (a BAR window; software writes reach
// the model directly) or system memory (a base address software programs; the
// device reads the slot by DMA each time it fires, and software tells it about
// an unmask through a register since the device cannot see memory writes).
import type { IrqEvent, IrqOutcome } from './events.ts';
import { directIrq, type IrqHook } from './hooks.ts';

export const IMS_SLOT_SIZE = 16;
export const IMS_ADDR_LO = 0x0;
export const IMS_ADDR_HI = 0x4;
export const IMS_DATA = 0x8;
export const IMS_CTRL = 0xc;
export const IMS_CTRL_MASK = 0x1;
export const IMS_CTRL_PENDING = 0x2;

export interface ImsHost {
  busMaster(): boolean;
  /** Whether a client is attached (there is memory to write to). */
  attached(): boolean;
  /** The device's DMA, through the fault rules. */
  dmaRead(address: bigint, length: number): Promise<Uint8Array>;
  dmaWrite(address: bigint, data: Uint8Array): Promise<void>;
  /** Shared guest memory, read in place when it is mapped (no message, no wait). */
  readLocal(address: bigint, length: number): Uint8Array | undefined;
  emit(e: IrqEvent): void;
  /** The device's interrupt hook (PciFunction.irqHook); none: slots fire as the table says. */
  hook?: IrqHook;
  /** The hook's earlier name. */
  gate?: IrqHook;
  /** Ignored: the hook carries the fault rules now (kept so older hosts still type-check). */
  faults?: unknown;
}

export interface ImsSlot {
  address: bigint;
  data: number;
  masked: boolean;
  pending: boolean;
}

export class ImsTable {
  readonly table: Uint8Array;
  private readonly view: DataView;
  private readonly pendingBits: Uint8Array;
  /** System-memory mode: the table's guest address; undefined in device-memory mode. */
  sysmemBase: bigint | undefined;
  /** Deliveries that need DMA_READ are chained so interrupts leave in the order raised. */
  private chain: Promise<void> = Promise.resolve();

  private readonly hook: IrqHook;

  constructor(readonly slots: number, private readonly host: ImsHost) {
    this.hook = host.hook ?? host.gate ?? directIrq;
    this.table = new Uint8Array(slots * IMS_SLOT_SIZE);
    this.view = new DataView(this.table.buffer);
    this.pendingBits = new Uint8Array(Math.ceil(slots / 8));
    this.reset();
  }

  reset(): void {
    this.table.fill(0);
    for (let i = 0; i < this.slots; i++) this.view.setUint32(i * IMS_SLOT_SIZE + IMS_CTRL, IMS_CTRL_MASK, true);
    this.pendingBits.fill(0);
    this.sysmemBase = undefined;
  }

  pending(i: number): boolean {
    return (this.pendingBits[i >> 3] & (1 << (i & 7))) !== 0;
  }

  private setPending(i: number, on: boolean): void {
    if (on) this.pendingBits[i >> 3] |= 1 << (i & 7);
    else this.pendingBits[i >> 3] &= ~(1 << (i & 7));
  }

  /** Pending bits of 32 slots from `first` (a status register's view). */
  pendingWord(first: number): number {
    let v = 0;
    for (let i = 0; i < 32 && first + i < this.slots; i++) if (this.pending(first + i)) v |= 1 << i;
    return v >>> 0;
  }

  /** The device-memory slot as software wrote it. */
  slot(i: number): ImsSlot {
    const at = i * IMS_SLOT_SIZE;
    const lo = this.view.getUint32(at + IMS_ADDR_LO, true);
    const hi = this.view.getUint32(at + IMS_ADDR_HI, true);
    return {
      address: (BigInt(hi) << 32n) | BigInt(lo),
      data: this.view.getUint32(at + IMS_DATA, true),
      masked: (this.view.getUint32(at + IMS_CTRL, true) & IMS_CTRL_MASK) !== 0,
      pending: this.pending(i),
    };
  }

  // ---- the BAR window (device-memory mode) --------------------------------
  read(offset: number, length: number): Uint8Array {
    const out = this.table.slice(offset, offset + length);
    // The pending bit is status, computed from device state.
    for (let i = Math.floor(offset / IMS_SLOT_SIZE); i * IMS_SLOT_SIZE < offset + length; i++) {
      const ctrlAt = i * IMS_SLOT_SIZE + IMS_CTRL - offset;
      if (ctrlAt >= 0 && ctrlAt < out.length && this.pending(i)) out[ctrlAt] |= IMS_CTRL_PENDING;
    }
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    const first = Math.floor(offset / IMS_SLOT_SIZE);
    const wasMasked: boolean[] = [];
    for (let i = first; i * IMS_SLOT_SIZE < offset + data.length; i++) wasMasked.push(this.slot(i).masked);
    this.table.set(data, offset);
    for (let i = first; i * IMS_SLOT_SIZE < offset + data.length; i++) {
      const ctrlAt = i * IMS_SLOT_SIZE + IMS_CTRL;
      // Only the mask bit is writable in the control word.
      this.view.setUint32(ctrlAt, this.view.getUint32(ctrlAt, true) & IMS_CTRL_MASK, true);
      if (wasMasked[i - first] && !this.slot(i).masked && this.pending(i)) this.release(i);
    }
  }

  // ---- raising -------------------------------------------------------------
  /** Raises slot i. Returns the outcome known now (message writes complete later). */
  fire(i: number): IrqOutcome {
    if (i < 0 || i >= this.slots) throw new RangeError(`IMS slot ${i} does not exist (0..${this.slots - 1})`);
    return this.hook.raise('ims', i, (ignoreMask) => this.fireNow(i, ignoreMask));
  }

  private fireNow(i: number, ignoreMask: boolean): IrqOutcome {
    if (!this.host.busMaster()) return this.report(i, 'blocked');
    if (this.sysmemBase !== undefined) {
      this.fireFromSystemMemory(i, false, ignoreMask);
      return 'queued';
    }
    const s = this.slot(i);
    if (s.masked && !ignoreMask) {
      this.setPending(i, true);
      return this.report(i, 'pending');
    }
    return this.send(i, s.address, s.data);
  }

  /** Software unmasked slot i in system memory (the IMS_UNMASK register). */
  unmaskNotify(i: number): void {
    if (i < 0 || i >= this.slots || !this.pending(i)) return;
    this.release(i);
  }

  private release(i: number): void {
    if (!this.hook.keepPending?.('ims', i)) this.setPending(i, false);
    if (!this.host.busMaster()) {
      this.report(i, 'blocked', 'was pending');
      return;
    }
    if (this.sysmemBase !== undefined) this.fireFromSystemMemory(i, true);
    else {
      const s = this.slot(i);
      this.send(i, s.address, s.data, 'was pending');
    }
  }

  private fireFromSystemMemory(i: number, wasPending = false, ignoreMask = false): void {
    const at = this.sysmemBase! + BigInt(i * IMS_SLOT_SIZE);
    if (at + BigInt(IMS_SLOT_SIZE) > 1n << 64n) {
      this.report(i, 'failed', `slot ${i} at 0x${at.toString(16)} lies past the end of the 64-bit address space`);
      return;
    }
    if (!this.host.attached()) {
      this.report(i, 'unbound', 'no client attached');
      return;
    }
    const deliver = (bytes: Uint8Array) => {
      const v = new DataView(bytes.buffer, bytes.byteOffset, IMS_SLOT_SIZE);
      const address = (BigInt(v.getUint32(IMS_ADDR_HI, true)) << 32n) | BigInt(v.getUint32(IMS_ADDR_LO, true));
      if (!ignoreMask && v.getUint32(IMS_CTRL, true) & IMS_CTRL_MASK) {
        this.setPending(i, true);
        this.report(i, 'pending');
        return;
      }
      this.send(i, address, v.getUint32(IMS_DATA, true), wasPending ? 'was pending' : 'slot read from system memory');
    };
    // Shared guest memory is read in place; otherwise DMA_READ, chained so
    // that interrupts keep their order, and never awaited by a reply.
    this.chain = this.chain.then(async () => {
      try {
        deliver(this.host.readLocal(at, IMS_SLOT_SIZE) ?? await this.host.dmaRead(at, IMS_SLOT_SIZE));
      } catch (err) {
        this.report(i, 'failed', `reading the slot at 0x${at.toString(16)}: ${(err as Error).message}`);
      }
    });
  }

  private send(i: number, address: bigint, data: number, detail?: string): IrqOutcome {
    if (!this.host.attached()) return this.report(i, 'unbound', 'no client attached');
    if (address === 0n) return this.report(i, 'unbound', 'slot has no message address');
    const wrong = this.hook.message?.('ims', i);
    if (wrong) {
      address = wrong.address ?? address;
      data = wrong.data ?? data;
      detail = 'fault: misrouted';
    }
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, data >>> 0, true);
    // A posted write, like the hardware's: no completion comes back (the bus
    // master gate was checked above; QEMU accepts NO_REPLY DMA_WRITEs).
    this.host.dmaWrite(address, bytes).catch((err: Error) => this.report(i, 'failed', `message write to 0x${address.toString(16)}: ${err.message}`));
    this.host.emit({ kind: 'ims', index: i, outcome: 'delivered', address, data, detail });
    return 'delivered';
  }

  private report(i: number, outcome: IrqOutcome, detail?: string): IrqOutcome {
    this.host.emit({ kind: 'ims', index: i, outcome, detail });
    return outcome;
  }

  /** Waits for deliveries that needed DMA to be on their way (tests, shutdown). */
  settled(): Promise<void> {
    return this.chain;
  }
}
