// The reference device: a PCIe endpoint with work queues, each a container of
// resources -- a doorbell, a completion counter and an interrupt -- whose
// interrupt goes to an MSI-X vector or to an IMS slot. The register layout is
// qemu/guest/irqlab_hw.h; the guest driver in qemu/guest/ builds an IMS irq
// domain on it.
//
//   BAR0 (64-bit, 16 KiB): registers at 0x000, queues at 0x100, IMS table at 0x2000
//   BAR2 (32-bit, 8 KiB):  MSI-X table at 0x0000, PBA at 0x1000
import { PciFunction, type PciFunctionSpec } from '../pci/function.ts';
import { RegisterMap, type RegisterSpec } from '../device/register-map.ts';
import { ImsTable, IMS_SLOT_SIZE } from '../irq/ims.ts';
import type { IrqOutcome } from '../irq/events.ts';

export const IRQLAB_VENDOR_ID = 0xf1ab;
export const IRQLAB_DEVICE_ID = 0x0001;
export const IRQLAB_ID_MAGIC = 0x4c515249;
export const IRQLAB_VERSION = 0x00010000;

export const Reg = {
  ID: 0x000, VERSION: 0x004, NUM_QUEUES: 0x008, IMS_CAP: 0x00c, IMS_OFFSET: 0x010, CTRL: 0x014,
  IMS_BASE_LO: 0x018, IMS_BASE_HI: 0x01c, SCRATCH: 0x020, DOORBELL: 0x024, DB_COUNT: 0x028, DB_LAST: 0x02c,
  IMS_UNMASK: 0x030, IMS_DISCARD: 0x034, IMS_PENDING_LO: 0x038, IMS_PENDING_HI: 0x03c,
} as const;
export const QUEUE_BASE = 0x100;
export const QUEUE_STRIDE = 0x20;
export const Q = { IRQ: 0x00, DOORBELL: 0x04, COMPLETED: 0x08, IRQS_SENT: 0x0c } as const;
export const Q_IRQ_IMS = 0x80000000;
export const Q_IRQ_ENABLE = 0x40000000;
export const CTRL_IMS_SYSMEM = 0x1;
export const IMS_CAP_SYSMEM = 0x80000000;
export const IMS_TABLE_OFFSET = 0x2000;
export const MSIX_BAR = 2;
export const MSIX_PBA_OFFSET = 0x1000;
/** Work items one doorbell write may submit (the queue depth); more is a guest error. */
export const QUEUE_DEPTH = 1024;

export interface ImsQueueOptions {
  queues?: number;
  imsSlots?: number;
  msixVectors?: number;
  /** Complete work as soon as it is submitted (default), or only when the script says so. */
  autoComplete?: boolean;
  serial?: bigint;
  /** Interrupts raised while bus mastering is off: lost (default) or latched until it is on. */
  busMasterOff?: 'drop' | 'latch';
  /** Guest error logging (first N per kind, then a summary per interval). */
  guestErrorLog?: PciFunctionSpec['guestErrorLog'];
  /** Windows whose posted writes land late: at the next read of the device (or after ms). */
  latePostedWrites?: PciFunctionSpec['latePostedWrites'];
}

export interface QueueState {
  submitted: number;
  completed: number;
  irqsSent: number;
}

export class ImsQueueDevice extends PciFunction {
  readonly regs: RegisterMap;
  readonly ims: ImsTable;
  readonly numQueues: number;
  autoComplete: boolean;
  private queues: QueueState[];
  private doorbellWrites = 0;
  private doorbellLast = 0;

  constructor(opts: ImsQueueOptions = {}) {
    const numQueues = opts.queues ?? 8;
    const slots = opts.imsSlots ?? 64;
    const vectors = opts.msixVectors ?? 8;
    if (numQueues < 1 || numQueues > 96) throw new Error(`queues must be 1..96 (the register block), got ${numQueues}`);
    if (slots < 1 || slots > 64 || slots * IMS_SLOT_SIZE > 0x2000) throw new Error(`IMS slots must be 1..64, got ${slots}`);
    if (vectors < 0 || vectors > 256) throw new Error(`MSI-X vectors must be 0..256 (0: no MSI-X), got ${vectors}`);
    super({
      ids: { vendor: IRQLAB_VENDOR_ID, device: IRQLAB_DEVICE_ID, classCode: 0xff0000, revision: 1 },
      bars: { 0: { type: 'mem64', size: 0x4000 }, 2: { type: 'mem32', size: 0x2000 } },
      capabilities: {
        pm: true,
        pcie: { flr: true },
        msix: vectors ? { vectors, bar: MSIX_BAR, tableOffset: 0, pbaOffset: MSIX_PBA_OFFSET } : undefined,
        aer: true,
        dsn: opts.serial ?? 0x1ab0_0000_0000_0001n,
      },
      busMasterOff: opts.busMasterOff,
      guestErrorLog: opts.guestErrorLog,
      latePostedWrites: opts.latePostedWrites,
    });
    this.numQueues = numQueues;
    this.autoComplete = opts.autoComplete !== false;
    this.queues = this.freshQueues();

    this.ims = new ImsTable(slots, {
      busMaster: () => this.busMaster,
      attached: () => this.context !== null,
      dmaRead: (a, n) => this.dmaRead(a, n),
      dmaWrite: (a, d) => this.dmaWrite(a, d),
      readLocal: (a, n) => this.context?.dma.readLocal(a, n),
      emit: (e) => this.recordIrq(e),
      hook: this.irqHook,
      guestError: (kind, m) => this.guestError(kind, m),
      latchWhileBusMasterOff: () => this.spec.busMasterOff === 'latch',
    });
    this.onBusMasterEnabled(() => this.ims.busMasterEnabled());
    this.addIrqKind('ims', (slot) => this.ims.fire(slot), slots);

    const registers: RegisterSpec[] = [
      { name: 'ID', offset: Reg.ID, access: 'RO', reset: IRQLAB_ID_MAGIC },
      { name: 'VERSION', offset: Reg.VERSION, access: 'RO', reset: IRQLAB_VERSION },
      { name: 'NUM_QUEUES', offset: Reg.NUM_QUEUES, access: 'RO', reset: numQueues },
      { name: 'IMS_CAP', offset: Reg.IMS_CAP, access: 'RO', reset: (slots | (0 << 16) | IMS_CAP_SYSMEM) >>> 0 },
      { name: 'IMS_OFFSET', offset: Reg.IMS_OFFSET, access: 'RO', reset: IMS_TABLE_OFFSET },
      { name: 'CTRL', offset: Reg.CTRL, mask: CTRL_IMS_SYSMEM, write: () => this.updateImsMode() },
      { name: 'IMS_BASE_LO', offset: Reg.IMS_BASE_LO, mask: 0xfffffff0, write: () => this.updateImsMode() },
      { name: 'IMS_BASE_HI', offset: Reg.IMS_BASE_HI, write: () => this.updateImsMode() },
      { name: 'SCRATCH', offset: Reg.SCRATCH },
      { name: 'DOORBELL', offset: Reg.DOORBELL, access: 'WO', write: (v) => { this.doorbellWrites++; this.doorbellLast = Number(v); } },
      { name: 'DB_COUNT', offset: Reg.DB_COUNT, access: 'RO', read: () => this.doorbellWrites },
      { name: 'DB_LAST', offset: Reg.DB_LAST, access: 'RO', read: () => this.doorbellLast },
      { name: 'IMS_UNMASK', offset: Reg.IMS_UNMASK, access: 'WO', write: (v) => this.imsSlotCommand('IMS_UNMASK', Number(v)) },
      { name: 'IMS_DISCARD', offset: Reg.IMS_DISCARD, access: 'WO', write: (v) => this.imsSlotCommand('IMS_DISCARD', Number(v)) },
      { name: 'IMS_PENDING_LO', offset: Reg.IMS_PENDING_LO, access: 'RO', read: () => this.ims.pendingWord(0) },
      { name: 'IMS_PENDING_HI', offset: Reg.IMS_PENDING_HI, access: 'RO', read: () => this.ims.pendingWord(32) },
      { name: 'Q_IRQ', offset: QUEUE_BASE + Q.IRQ, count: numQueues, stride: QUEUE_STRIDE, mask: 0xc000ffff },
      { name: 'Q_DOORBELL', offset: QUEUE_BASE + Q.DOORBELL, count: numQueues, stride: QUEUE_STRIDE, access: 'WO', write: (v, q) => this.submit(q, Number(v)) },
      { name: 'Q_COMPLETED', offset: QUEUE_BASE + Q.COMPLETED, count: numQueues, stride: QUEUE_STRIDE, access: 'RO', read: (q) => this.queues[q].completed },
      { name: 'Q_IRQS_SENT', offset: QUEUE_BASE + Q.IRQS_SENT, count: numQueues, stride: QUEUE_STRIDE, access: 'RO', read: (q) => this.queues[q].irqsSent },
    ];
    this.regs = new RegisterMap({ size: 0x1000, access: { min: 4, max: 4, aligned: true }, registers });
    this.addRegisters(0, 0, this.regs);
    const ims = this.ims;
    this.addWindow(0, {
      name: 'IMS table', offset: IMS_TABLE_OFFSET, size: slots * IMS_SLOT_SIZE,
      read: (o, n) => ims.read(o, n), write: (o, d) => ims.write(o, d), reset: () => ims.reset(),
    });
    this.onReset(() => {
      this.queues = this.freshQueues();
      this.doorbellWrites = 0;
      this.doorbellLast = 0;
    });
  }

  private freshQueues(): QueueState[] {
    return Array.from({ length: this.numQueues }, () => ({ submitted: 0, completed: 0, irqsSent: 0 }));
  }

  private updateImsMode(): void {
    const sysmem = (Number(this.regs.value('CTRL')) & CTRL_IMS_SYSMEM) !== 0;
    const base = (BigInt(this.regs.value('IMS_BASE_HI')) << 32n) | BigInt(this.regs.value('IMS_BASE_LO'));
    this.ims.sysmemBase = sysmem ? base : undefined;
  }

  /** Posted writes to the global doorbell since reset (the storm counter). */
  get doorbellCount(): number {
    return this.doorbellWrites;
  }

  queue(q: number): Readonly<QueueState> {
    this.checkQueue(q);
    return this.queues[q];
  }

  private checkQueue(q: number): void {
    if (!Number.isInteger(q) || q < 0 || q >= this.numQueues) throw new RangeError(`queue ${q} does not exist (0..${this.numQueues - 1})`);
  }

  /** Software rang queue q's doorbell with n work items. */
  private submit(q: number, n: number): void {
    if (n > QUEUE_DEPTH) {
      this.guestError('device-rule', `queue ${q} doorbell: ${n} work items exceed the queue depth of ${QUEUE_DEPTH}; ignored`);
      return;
    }
    this.queues[q].submitted += n;
    if (this.autoComplete) this.complete(q, n);
  }

  /**
   * Completes n work items on queue q; each completion raises the queue's
   * interrupt if enabled. Returns the outcome of each interrupt.
   */
  complete(q: number, n = 1): IrqOutcome[] {
    this.checkQueue(q);
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`cannot complete ${n} items`);
    const outcomes: IrqOutcome[] = [];
    for (let i = 0; i < n; i++) {
      this.queues[q].completed++;
      const o = this.raiseQueueIrq(q);
      if (o) outcomes.push(o);
    }
    return outcomes;
  }

  /** Where queue q's interrupt goes, as software programmed it. */
  route(q: number): { kind: 'msix' | 'ims'; index: number; enabled: boolean } {
    this.checkQueue(q);
    const v = Number(this.regs.value(`Q_IRQ[${q}]`));
    return { kind: v & Q_IRQ_IMS ? 'ims' : 'msix', index: v & 0xffff, enabled: (v & Q_IRQ_ENABLE) !== 0 };
  }

  private raiseQueueIrq(q: number): IrqOutcome | undefined {
    const r = this.route(q);
    if (!r.enabled) return undefined;
    this.queues[q].irqsSent++;
    // The route is the driver's: a vector or slot that does not exist is its mistake.
    return this.raiseFor(`queue ${q}'s interrupt route (Q_IRQ)`, r.kind, r.index);
  }

  /** Software unmasked a slot of the system-memory table, or discards what it holds: the index is the driver's. */
  private imsSlotCommand(reg: 'IMS_UNMASK' | 'IMS_DISCARD', slot: number): void {
    if (slot >= this.ims.slots) this.guestError('irq-index', `${reg} names IMS slot ${slot}, which does not exist (valid: 0..${this.ims.slots - 1}); ignored`);
    else if (reg === 'IMS_UNMASK') this.ims.unmaskNotify(slot);
    else this.ims.discard(slot, 'software wrote IMS_DISCARD');
  }

  /** Raises MSI-X vector `vector` (a RangeError if there is no such vector). */
  fireMsix(vector: number): IrqOutcome {
    return this.spurious('msix', vector);
  }

  /** Raises IMS slot `slot` (a RangeError if there is no such slot). */
  fireIms(slot: number): IrqOutcome {
    return this.ims.fire(slot);
  }
}
