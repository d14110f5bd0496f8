// IMS, the Interrupt Message Store: a device-specific table of interrupt
// messages, one 16-byte slot per interrupt (address low, address high, data,
// control: the IDXD IMS layout). The device raises slot i the way hardware
// raises any MSI: one 4-byte memory write of the slot's data to the slot's
// address, through its bus-master address space (a vfio-user DMA_WRITE), and
// only with bus mastering on. A masked slot keeps a pending bit and fires
// when unmasked.
//
// The control word: bit 0 masks the slot; bit 1 reads as the pending bit and
// discards the held interrupt when written 1 (W1C: a driver freeing a slot
// clears it, so the slot's next owner gets no stale interrupt); bit 3
// enables a PASID and bits 31:12 hold it (IDXD's layout). The PASID is kept
// and shown in traces, but the message leaves without it: a vfio-user
// DMA_WRITE carries an address and data, no PASID TLP prefix.
//
// Two places for the table: device memory (a BAR window; software writes reach
// the model directly) or system memory (a base address software programs; the
// device reads the slot by DMA each time it fires, and software tells it about
// an unmask -- and a discard -- through registers since the device cannot see
// memory writes).
//
// Software mistakes the device can see are guest errors: a live slot's
// message rewritten piece by piece, a message outside the MSI window when the
// slot fires, a slot's message cleared while it still holds an interrupt.
import { badIndex, type IrqEvent, type IrqOutcome } from './events.ts';
import { directIrq, type IrqHook } from './hooks.ts';
import type { GuestErrorKind } from '../device/guest-errors.ts';

export const IMS_SLOT_SIZE = 16;
export const IMS_ADDR_LO = 0x0;
export const IMS_ADDR_HI = 0x4;
export const IMS_DATA = 0x8;
export const IMS_CTRL = 0xc;
export const IMS_CTRL_MASK = 0x1;
/** Reads as the pending bit; writing 1 discards the held interrupt (W1C). */
export const IMS_CTRL_PENDING = 0x2;
export const IMS_CTRL_PASID_ENABLE = 0x8;
export const IMS_CTRL_PASID_SHIFT = 12;
/** What software can store in the control word (pending is status). */
const IMS_CTRL_STORED = (IMS_CTRL_MASK | IMS_CTRL_PASID_ENABLE | (0xfffff << IMS_CTRL_PASID_SHIFT)) >>> 0;
/** Bytes 0..11 of a slot: its message. */
const IMS_MESSAGE_BYTES = 12;

/** x86's MSI window: the low address dword of every MSI is 0xFEExxxxx (remapped or not). */
export const X86_MSI_WINDOW = { base: 0xfee00000, size: 0x100000 } as const;

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
  /** Software misused the table (PciFunction.guestError). */
  guestError?(kind: GuestErrorKind, message: string): void;
  /** Hold (pending) what fires while bus mastering is off, instead of dropping it (default: drop). */
  latchWhileBusMasterOff?(): boolean;
  /** Where a message's low address dword must point (default X86_MSI_WINDOW). */
  msiWindow?: { base: number; size: number };
}

export interface ImsSlot {
  address: bigint;
  data: number;
  masked: boolean;
  pending: boolean;
  /** The PASID, when the control word enables one. */
  pasid?: number;
}

/** A slot's fields from its 16 bytes (device memory or a DMA read). */
function decodeSlot(v: DataView, at: number): Omit<ImsSlot, 'pending'> {
  const ctrl = v.getUint32(at + IMS_CTRL, true);
  const slot: Omit<ImsSlot, 'pending'> = {
    address: (BigInt(v.getUint32(at + IMS_ADDR_HI, true)) << 32n) | BigInt(v.getUint32(at + IMS_ADDR_LO, true)),
    data: v.getUint32(at + IMS_DATA, true),
    masked: (ctrl & IMS_CTRL_MASK) !== 0,
  };
  if (ctrl & IMS_CTRL_PASID_ENABLE) slot.pasid = ctrl >>> IMS_CTRL_PASID_SHIFT;
  return slot;
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
  private readonly window: { base: number; size: number };

  constructor(readonly slots: number, private readonly host: ImsHost) {
    this.hook = host.hook ?? host.gate ?? directIrq;
    this.window = host.msiWindow ?? X86_MSI_WINDOW;
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
    return { ...decodeSlot(this.view, i * IMS_SLOT_SIZE), pending: this.pending(i) };
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
    const end = offset + data.length;
    const first = Math.floor(offset / IMS_SLOT_SIZE);
    const before: Omit<ImsSlot, 'pending'>[] = [];
    for (let i = first; i * IMS_SLOT_SIZE < end; i++) before.push(decodeSlot(this.view, i * IMS_SLOT_SIZE));
    this.table.set(data, offset);
    for (let i = first; i * IMS_SLOT_SIZE < end; i++) {
      const at = i * IMS_SLOT_SIZE;
      const was = before[i - first];
      const ctrlAt = at + IMS_CTRL;
      // W1C: a 1 written to the pending bit discards what the slot holds.
      if (ctrlAt >= offset && ctrlAt < end && data[ctrlAt - offset] & IMS_CTRL_PENDING) this.discard(i, 'software wrote 1 to its pending bit');
      this.view.setUint32(ctrlAt, this.view.getUint32(ctrlAt, true) & IMS_CTRL_STORED, true);
      const now = decodeSlot(this.view, at);
      const messageChanged = now.address !== was.address || now.data !== was.data;
      const wholeMessage = offset <= at && end >= at + IMS_MESSAGE_BYTES;
      if (messageChanged && !was.masked && !wholeMessage) {
        this.host.guestError?.('ims-torn-write', `IMS slot ${i} is unmasked while software rewrites its message one piece at a time ` +
          `(${data.length} bytes at slot offset 0x${(Math.max(offset, at) - at).toString(16)}; 0x${was.address.toString(16)}/0x${was.data.toString(16)} -> ` +
          `0x${now.address.toString(16)}/0x${now.data.toString(16)}): the device could send half of each; mask the slot around the rewrite`);
      }
      if (now.masked && this.pending(i) && was.address !== 0n && now.address === 0n) {
        this.host.guestError?.('ims-stale-pending', `IMS slot ${i}'s message cleared while it still holds an interrupt: whoever unmasks the slot next receives it; ` +
          `write 1 to the pending bit (0x${IMS_CTRL_PENDING.toString(16)} in the control word) to discard it`);
      }
      if (was.masked && !now.masked && this.pending(i)) this.release(i);
    }
  }

  // ---- raising -------------------------------------------------------------
  /** Raises slot i. Returns the outcome known now (message writes complete later). */
  fire(i: number): IrqOutcome {
    const bad = badIndex('ims', i, this.slots);
    if (bad) throw new RangeError(bad);
    return this.hook.raise('ims', i, (ignoreMask) => this.fireNow(i, ignoreMask));
  }

  private fireNow(i: number, ignoreMask: boolean): IrqOutcome {
    if (!this.host.busMaster()) return this.blocked(i);
    if (this.sysmemBase !== undefined) {
      this.fireFromSystemMemory(i, false, ignoreMask);
      return 'queued';
    }
    const s = this.slot(i);
    if (s.masked && !ignoreMask) {
      this.setPending(i, true);
      return this.report(i, 'pending');
    }
    return this.send(i, s, undefined, !s.masked);
  }

  /** Bus mastering is off: the message cannot leave; held (pending) when the device latches, else lost. */
  private blocked(i: number, detail?: string): IrqOutcome {
    if (this.host.latchWhileBusMasterOff?.()) {
      this.setPending(i, true);
      return this.report(i, 'pending', 'bus mastering is off: latched until it is on');
    }
    return this.report(i, 'blocked', detail);
  }

  /** Software unmasked slot i in system memory (the IMS_UNMASK register). */
  unmaskNotify(i: number): void {
    if (i < 0 || i >= this.slots || !this.pending(i)) return;
    this.release(i);
  }

  /** Software discards what slot i holds (a W1C of its pending bit; IMS_DISCARD in system memory). */
  discard(i: number, why = 'software discarded it'): void {
    if (i < 0 || i >= this.slots || !this.pending(i)) return;
    this.setPending(i, false);
    this.report(i, 'discarded', why);
  }

  /** Bus mastering came on: what was latched meanwhile and is not masked leaves now. */
  busMasterEnabled(): void {
    for (let i = 0; i < this.slots; i++) {
      if (!this.pending(i)) continue;
      if (this.sysmemBase !== undefined || !this.slot(i).masked) this.release(i);
    }
  }

  private release(i: number): void {
    if (!this.host.busMaster()) {
      if (!this.host.latchWhileBusMasterOff?.()) {
        this.setPending(i, false);
        this.report(i, 'blocked', 'was pending');
      }
      return;
    }
    if (!this.hook.keepPending?.('ims', i)) this.setPending(i, false);
    if (this.sysmemBase !== undefined) this.fireFromSystemMemory(i, true);
    else {
      const s = this.slot(i);
      this.send(i, s, 'was pending', true);
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
      const s = decodeSlot(new DataView(bytes.buffer, bytes.byteOffset, IMS_SLOT_SIZE), 0);
      if (!ignoreMask && s.masked) {
        this.setPending(i, true);
        this.report(i, 'pending');
        return;
      }
      this.send(i, s, wasPending ? 'was pending' : 'slot read from system memory', !s.masked);
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

  /**
   * Writes slot i's message. `live`: the slot is unmasked, so its message is
   * the driver's promise -- one outside the MSI window is a guest error (a
   * message sent through a mask by a fault is the fault's doing).
   */
  private send(i: number, s: Omit<ImsSlot, 'pending'>, detail: string | undefined, live: boolean): IrqOutcome {
    if (!this.host.attached()) return this.report(i, 'unbound', 'no client attached');
    let { address, data } = s;
    const wrong = this.hook.message?.('ims', i);
    if (wrong) {
      address = wrong.address ?? address;
      data = wrong.data ?? data;
      detail = 'fault: misrouted';
    } else if (live && !this.inMsiWindow(address)) {
      const w = this.window;
      this.host.guestError?.('ims-bad-message', `IMS slot ${i} fired, unmasked, with message address 0x${address.toString(16)}, ` +
        `outside the MSI window 0x${w.base.toString(16)}..0x${(w.base + w.size - 1).toString(16)}${address === 0n ? ' (never programmed, or cleared)' : ''}`);
    }
    if (address === 0n) return this.report(i, 'unbound', 'slot has no message address');
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, data >>> 0, true);
    // A posted write, like the hardware's: no completion comes back (the bus
    // master gate was checked above; QEMU accepts NO_REPLY DMA_WRITEs). A
    // PASID the slot holds cannot travel with it (no TLP prefix in vfio-user).
    this.host.dmaWrite(address, bytes).catch((err: Error) => this.report(i, 'failed', `message write to 0x${address.toString(16)}: ${err.message}`));
    this.host.emit({ kind: 'ims', index: i, outcome: 'delivered', address, data, detail, pasid: s.pasid });
    return 'delivered';
  }

  private inMsiWindow(address: bigint): boolean {
    const lo = Number(address & 0xffffffffn);
    return lo >= this.window.base && lo < this.window.base + this.window.size;
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
