// A PCI function's interrupts: the models of src/irq/ wired to the
// function's registers (the MSI-X and MSI capabilities, the command and
// status registers) and to its one irq hook; the vfio irq indexes SET_IRQS
// addresses; and the kinds a device raises by name (spurious(), the control
// channel): the built-in ones, and those a device adds (IMS) with addKind.
import { IrqIndex } from '../protocol/index.ts';
import { Msix } from '../irq/msix.ts';
import { clientTableProbe, type MsixProbeHost } from '../irq/msix-probe.ts';
import { Msi } from '../irq/msi.ts';
import { Intx } from '../irq/intx.ts';
import { SignalIrq } from '../irq/simple.ts';
import type { IrqSource } from '../irq/set-irqs.ts';
import type { IrqHook } from '../irq/hooks.ts';
import { badIndex, type IrqEvent, type IrqKind, type IrqOutcome } from '../irq/events.ts';
import type { ConfigSpace } from './config-space.ts';
import type { CapabilityOffsets } from './capabilities.ts';
import type { PciFunctionSpec } from './config-setup.ts';
import type { BarSpec } from './bars.ts';
import type { BarWindow } from './bar-windows.ts';
import * as R from './regs.ts';

/** What the wiring needs from the function. */
export interface InterruptWiring {
  spec: PciFunctionSpec;
  config: ConfigSpace;
  caps: CapabilityOffsets;
  bars: readonly (BarSpec | undefined)[];
  /** Places the MSI-X table and PBA in their BAR. */
  addWindow(bar: number, w: BarWindow): void;
  busMaster(): boolean;
  emit(e: IrqEvent): void;
  /** The hook every model raises through (the function's gate). */
  hook: IrqHook;
  /** The device, for reading the MSI-X table a client emulates. */
  probeHost: MsixProbeHost;
}

export type RaiseByIndex = (index: number) => IrqOutcome;

interface Kind {
  raise: RaiseByIndex;
  /** How many indexes the kind has (read when raised); undefined: the raise function checks. */
  count: () => number | undefined;
}

export class FunctionInterrupts {
  readonly intx: Intx;
  readonly err: SignalIrq;
  readonly req: SignalIrq;
  readonly msix?: Msix;
  readonly msi?: Msi;
  private readonly kinds = new Map<IrqKind, Kind>();

  constructor(w: InterruptWiring) {
    const { spec, config: c, caps, emit, hook } = w;
    const busMaster = w.busMaster;
    this.intx = new Intx(spec.intx !== false ? 1 : 0, {
      disabled: () => (c.u16(R.PCI_COMMAND) & R.PCI_COMMAND_INTX_DISABLE) !== 0,
      setStatus: (on) => c.setU16(R.PCI_STATUS, on ? c.u16(R.PCI_STATUS) | R.PCI_STATUS_INTERRUPT : c.u16(R.PCI_STATUS) & ~R.PCI_STATUS_INTERRUPT),
      emit, hook,
    });
    c.onWrite(R.PCI_COMMAND, 2, (old, now) => {
      this.intx.commandWritten();
      if (!(old & R.PCI_COMMAND_MASTER) && now & R.PCI_COMMAND_MASTER) this.msix?.busMasterEnabled();
    });
    const latch = () => spec.busMasterOff === 'latch';
    this.err = new SignalIrq('err', spec.err === false ? 0 : 1, emit, hook);
    this.req = new SignalIrq('req', spec.req === false ? 0 : 1, emit, hook);

    const mx = spec.capabilities?.msix;
    if (mx && caps.msix !== undefined) {
      const bar = w.bars[mx.bar];
      if (!bar || bar.type === 'io') throw new Error(`MSI-X lives in BAR${mx.bar}, which must be a memory BAR`);
      const control = caps.msix + R.PCI_MSIX_FLAGS;
      const msix = new Msix(mx.vectors, {
        enabled: () => (c.u16(control) & R.PCI_MSIX_FLAGS_ENABLE) !== 0,
        functionMasked: () => (c.u16(control) & R.PCI_MSIX_FLAGS_MASKALL) !== 0,
        busMaster, emit, hook, latchWhileBusMasterOff: latch,
        probeMask: clientTableProbe(w.probeHost, mx),
      });
      this.msix = msix;
      w.addWindow(mx.bar, { name: 'MSI-X table', offset: mx.tableOffset, size: msix.tableSize, read: (o, n) => msix.tableRead(o, n), write: (o, d) => msix.tableWrite(o, d) });
      w.addWindow(mx.bar, { name: 'MSI-X PBA', offset: mx.pbaOffset, size: msix.pbaSize, read: (o, n) => msix.pbaRead(o, n), write: () => {} });
      c.onWrite(control, 2, () => msix.controlWritten());
    }

    const ms = spec.capabilities?.msi;
    if (ms && caps.msi !== undefined) {
      const at = caps.msi;
      const flags = () => c.u16(at + R.PCI_MSI_FLAGS);
      // Mask Bits follow the message data: at 0x10 with a 64-bit address, 0x0c without; Pending Bits after them.
      const maskAt = () => at + (flags() & R.PCI_MSI_FLAGS_64BIT ? 16 : 12);
      const msi = new Msi(ms.vectors, {
        enabledVectors: () => (flags() & R.PCI_MSI_FLAGS_ENABLE ? 1 << ((flags() & R.PCI_MSI_FLAGS_QSIZE) >> 4) : 0),
        maskBits: () => (flags() & R.PCI_MSI_FLAGS_MASKBIT ? c.u32(maskAt()) : undefined),
        pendingBits: () => c.u32(maskAt() + 4),
        setPendingBits: (bits) => c.setU32(maskAt() + 4, bits),
        busMaster, emit, hook,
      });
      this.msi = msi;
      if (ms.perVectorMask) c.onWrite(at + (ms.is64 !== false ? 16 : 12), 4, () => msi.maskWritten());
    }

    const msix = this.msix;
    const msi = this.msi;
    this.kinds.set('msix', { raise: (i) => msix!.fire(i), count: () => msix?.count ?? 0 });
    this.kinds.set('msi', { raise: (i) => msi!.fire(i), count: () => msi?.count ?? 0 });
    this.kinds.set('intx', { raise: () => (this.intx.assert(), 'delivered'), count: () => this.intx.count });
    this.kinds.set('err', { raise: () => (this.err.fire(), 'delivered'), count: () => this.err.count });
    this.kinds.set('req', { raise: () => (this.req.fire(), 'delivered'), count: () => this.req.count });
  }

  /** A kind of interrupt the device raises by name besides the built-in ones (IMS...), with its number of indexes. */
  addKind(kind: IrqKind, raise: RaiseByIndex, count?: number | (() => number)): void {
    if (this.kinds.has(kind)) throw new Error(`the device already raises ${kind} interrupts`);
    this.kinds.set(kind, { raise, count: typeof count === 'function' ? count : () => count });
  }

  /** Whether the device raises `kind` interrupts by name. */
  has(kind: IrqKind): boolean {
    return this.kinds.has(kind);
  }

  /** What is wrong with kind/index, or undefined when the device has it. */
  check(kind: IrqKind, index: number): string | undefined {
    const k = this.kinds.get(kind);
    return badIndex(kind, index, k ? k.count() : 0);
  }

  /** Raises kind/index by name (checked first: check()); undefined when the device has no such kind. */
  raise(kind: IrqKind, index: number): IrqOutcome | undefined {
    return this.kinds.get(kind)?.raise(index);
  }

  /** The model behind a vfio irq index (GET_IRQ_INFO, SET_IRQS). */
  source(index: number): IrqSource | undefined {
    switch (index) {
      case IrqIndex.INTX: return this.intx;
      case IrqIndex.MSI: return this.msi;
      case IrqIndex.MSIX: return this.msix;
      case IrqIndex.ERR: return this.err;
      case IrqIndex.REQ: return this.req;
      default: return undefined;
    }
  }

  /** Masks, pending bits and levels back to reset (the registers are reset with config space). */
  reset(): void {
    this.msix?.reset();
    this.intx.reset();
  }

  /** The client is gone: its eventfds go with it. */
  detach(): void {
    this.msix?.detach();
    this.msi?.detach();
    this.intx.detach();
    this.err.detach();
    this.req.detach();
  }
}
