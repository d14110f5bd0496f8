// A PCI Express function as vfio-user serves it: config space (region 7),
// BARs (regions 0-5) made of windows, the expansion ROM (region 6), and its
// interrupts (INTx, MSI, MSI-X, ERR, REQ, and kinds a device adds). Resets --
// DEVICE_RESET, FLR, a client leaving -- put every register, mask and pending
// bit back to its reset value. The parts, each its own file:
//
//   config-setup.ts   config space, BARs, ROM and capabilities from the spec
//   bar-windows.ts    what sits in the BARs
//   regions.ts        the client's accesses to config space, BARs and ROM
//   interrupts.ts     the interrupt models wired to the function's registers
//   device-faults.ts  fault rules composed onto the function's seams
//   aer.ts            AER error reporting
//
// The seams others plug into, each a list to push a hook into: `irqHooks`
// (every interrupt, on its way out of its model), `accessHooks` (every region
// access of the client), `deviceDma.hooks` (every DMA of the device) and
// `interceptors` (every vfio-user command). Fault injection is plugged in
// this way (device-faults.ts); its gate is the first irq hook. Next comes
// the DMA ordering hook (irq/dma-ordering.ts): an eventfd interrupt waits
// for the posted DMA writes before it.
import { EventEmitter } from 'node:events';
import {
  DEVICE_FLAGS_PCI, DEVICE_FLAGS_RESET, PCI_NUM_REGIONS, PCI_NUM_IRQS, Region, Errno, VfioError, type IrqSet,
} from '../protocol/index.ts';
import type { Interceptor } from '../transport/interceptor.ts';
import type { DeviceContext, DeviceModel, HandlerContext, IrqInfoResult, RegionAccessHook, RegionInfoResult } from '../device/model.ts';
import type { RegisterMap } from '../device/register-map.ts';
import { GuestErrors, type GuestErrorKind, type GuestErrorSummary } from '../device/guest-errors.ts';
import { PostedWriteBuffer, type PostedWriteEvent, type LatePostedWrites } from '../device/posted-writes.ts';
import { DeviceDma, type DmaReadOptions, type DmaWriteOptions } from '../dma/device-dma.ts';
import { DmaOrdering } from '../irq/dma-ordering.ts';
import { applySetIrqs } from '../irq/set-irqs.ts';
import { chainIrqHooks, type IrqHook } from '../irq/hooks.ts';
import type { Msix } from '../irq/msix.ts';
import type { Msi } from '../irq/msi.ts';
import type { Intx } from '../irq/intx.ts';
import type { SignalIrq } from '../irq/simple.ts';
import { IrqCounters, type IrqEvent, type IrqKind, type IrqOutcome } from '../irq/events.ts';
import { FaultEngine } from '../faults/engine.ts';
import type { IrqGate } from '../faults/irq-gate.ts';
import type { ConfigSpace } from './config-space.ts';
import type { CapabilityOffsets } from './capabilities.ts';
import { barAddress, type BarSpec } from './bars.ts';
import { setUpConfig, type PciFunctionSpec } from './config-setup.ts';
import { BarWindows, type BarWindow, type BarLayoutEntry } from './bar-windows.ts';
import { FunctionRegions } from './regions.ts';
import { FunctionInterrupts, type RaiseByIndex } from './interrupts.ts';
import { attachFaults } from './device-faults.ts';
import { reportAerError, type AerErrorOptions } from './aer.ts';
import * as R from './regs.ts';

export type { PciIds, PciFunctionSpec } from './config-setup.ts';
export type { BarWindow } from './bar-windows.ts';
export type { AerErrorOptions } from './aer.ts';

export interface PciFunctionEvents {
  irq: [IrqEvent];
  reset: [reason: string];
  /** Software misused the device (kinds: src/device/guest-errors.ts). */
  'guest-error': [message: string, kind: GuestErrorKind];
  'config-write': [offset: number, data: Uint8Array];
  /** A posted write held back, landing late, or lost to a reset (late posted writes). */
  'posted-write': [PostedWriteEvent];
}

export type { LatePostedWrites } from '../device/posted-writes.ts';

export class PciFunction extends EventEmitter<PciFunctionEvents> implements DeviceModel {
  readonly numRegions = PCI_NUM_REGIONS;
  readonly numIrqs = PCI_NUM_IRQS;
  readonly deviceFlags = DEVICE_FLAGS_PCI | DEVICE_FLAGS_RESET;
  readonly config: ConfigSpace;
  readonly caps: CapabilityOffsets;
  readonly bars: (BarSpec | undefined)[];
  readonly msix?: Msix;
  readonly msi?: Msi;
  readonly intx: Intx;
  readonly err: SignalIrq;
  readonly req: SignalIrq;
  readonly counters = new IrqCounters();
  /** Fault rules in force on this device (src/faults). */
  readonly faults = new FaultEngine();
  /** Where every interrupt of this device meets the fault rules (the first of irqHooks). */
  readonly gate: IrqGate;
  /** Every interrupt of every model raises through these, outermost first (the gate, then yours). */
  readonly irqHooks: IrqHook[];
  /** irqHooks as one hook: what the models raise through (give it to a model a device adds, such as an ImsTable). */
  readonly irqHook: IrqHook;
  /** Every region access of the client passes these first (fault rules while any is in force). */
  readonly accessHooks: RegionAccessHook[] = [];
  /** The device's own DMA; its `hooks` see every access (fault rules while any is in force). */
  readonly deviceDma: DeviceDma;
  /** Holds an eventfd interrupt until the posted DMA writes before it have landed (the irq hook after the gate). */
  readonly dmaOrdering: DmaOrdering;
  /** The device's interceptors on every vfio-user command (its command fault rules while any is in force). */
  readonly interceptors: Interceptor<HandlerContext>[] = [];
  /** Posted writes held back until a read of the device (holdPostedWrites, 'late' fault rules). */
  readonly postedWrites: PostedWriteBuffer;
  private syncSeams: () => void = () => {};
  private readonly windows: BarWindows;
  private readonly irqs: FunctionInterrupts;
  private readonly regions: FunctionRegions;
  private readonly resetHooks: ((reason: string) => void)[] = [];
  private ctx: DeviceContext | null = null;
  private resetController = new AbortController();
  private readonly guestErrorLog: GuestErrors;

  constructor(readonly spec: PciFunctionSpec) {
    super();
    const { config, caps, bars, rom } = setUpConfig(spec);
    this.config = config;
    this.caps = caps;
    this.bars = bars;
    this.guestErrorLog = new GuestErrors((line) => this.ctx?.log(line), spec.guestErrorLog);
    this.windows = new BarWindows(bars);
    this.regions = new FunctionRegions({
      config, bars, rom, windows: this.windows, accessHooks: this.accessHooks,
      removed: () => this.removed,
      guestError: (kind, m) => this.guestError(kind, m),
      configWritten: (offset, data) => this.emit('config-write', offset, data),
    });
    const emit = (e: IrqEvent) => this.emitIrq(e);
    this.irqHooks = [];
    this.irqHook = chainIrqHooks(this.irqHooks);
    this.deviceDma = new DeviceDma(() => this.ctx?.dma ?? null);
    this.postedWrites = new PostedWriteBuffer({
      apply: (region, offset, data) => this.regions.apply(region, offset, data),
      posted: (region) => region <= Region.BAR5 && this.bars[region] !== undefined && this.bars[region]!.type !== 'io',
      report: (e) => this.emit('posted-write', e),
      changed: () => this.syncSeams(),
    });
    ({ gate: this.gate, sync: this.syncSeams } = attachFaults(this.faults, emit, {
      irqHooks: this.irqHooks, interceptors: this.interceptors, accessHooks: this.accessHooks, dmaHooks: this.deviceDma.hooks,
      postedWrites: this.postedWrites, irqIndex: (kind, index) => (this.irqs.has(kind) ? this.irqs.check(kind, index) : undefined),
    }));
    this.dmaOrdering = new DmaOrdering(this.deviceDma, (l) => this.ctx?.log(l));
    this.irqHooks.push(this.dmaOrdering);
    for (const w of spec.latePostedWrites ?? []) this.holdPostedWrites(w);
    this.irqs = new FunctionInterrupts({
      spec, config, caps, bars, emit, hook: this.irqHook, probeHost: this,
      addWindow: (bar, w) => this.addWindow(bar, w),
      busMaster: () => this.busMaster,
    });
    ({ msix: this.msix, msi: this.msi, intx: this.intx, err: this.err, req: this.req } = this.irqs);
    if (caps.pcie !== undefined) {
      config.onWrite(caps.pcie + R.PCI_EXP_DEVCTL, 2, (_old, now) => {
        if (now & R.PCI_EXP_DEVCTL_BCR_FLR) this.reset('function level reset');
      });
    }
    config.seal();
  }

  // ---- building ----------------------------------------------------------

  /** Places a window in a BAR; windows may not overlap. */
  addWindow(bar: number, w: BarWindow): this {
    this.windows.add(bar, w);
    return this;
  }

  /** Places a register map in a BAR at `offset` (reset with the device, guest errors reported). */
  addRegisters(bar: number, offset: number, map: RegisterMap, name = 'registers'): this {
    map.guestError = (kind, m) => this.guestError(kind, `BAR${bar}+0x${offset.toString(16)} ${name}: ${m}`);
    return this.addWindow(bar, { name, offset, size: map.size, read: (o, n) => map.read(o, n), write: (o, d) => map.write(o, d), reset: () => map.reset(), registers: () => map.layout() });
  }

  /**
   * What sits where in the BARs, by name: each window (region, offset, size)
   * and each named register of its register maps. Traces show these names.
   */
  layout(): BarLayoutEntry[] {
    return this.windows.layout();
  }

  /**
   * Plain memory in a BAR at `offset` (default: the whole BAR): software's
   * writes read back; zero after a reset. Returns the bytes, which the device
   * reads and writes itself.
   */
  addMemory(bar: number, opts: { offset?: number; size?: number; name?: string } = {}): Uint8Array {
    return this.windows.addMemory(bar, opts);
  }

  /**
   * Aborted at the next reset (DEVICE_RESET, FLR, the client leaving), then
   * replaced by a fresh one: take it when a command starts and give it to
   * the command's async work (dmaRead/dmaWrite take it), so a reset cancels
   * what is in flight.
   */
  get resetSignal(): AbortSignal {
    return this.resetController.signal;
  }

  onReset(fn: (reason: string) => void): this {
    this.resetHooks.push(fn);
    return this;
  }

  /**
   * Holds posted writes to a window (a register, the IMS table...) the way a
   * write buffer can: they land, in order, when a read of the device arrives
   * (any region) or a non-posted write, or after `ms` if given. A driver that
   * does not flush sees its write take effect late. Returns a function that
   * stops holding (what is held then lands).
   */
  holdPostedWrites(w: LatePostedWrites): () => void {
    return this.postedWrites.hold(w);
  }

  /** Runs `fn` when software turns bus mastering on (a model that latched interrupts sends them). */
  onBusMasterEnabled(fn: () => void): this {
    this.config.onWrite(R.PCI_COMMAND, 2, (old, now) => {
      if (!(old & R.PCI_COMMAND_MASTER) && now & R.PCI_COMMAND_MASTER) fn();
    });
    return this;
  }

  /**
   * A kind of interrupt this device raises besides the built-in ones (IMS...):
   * spurious(kind, index), raiseFor() and the control channel's `fire` reach
   * it, with indexes checked against `count` (without it, `raise` checks).
   */
  addIrqKind(kind: IrqKind, raise: RaiseByIndex, count?: number | (() => number)): this {
    this.irqs.addKind(kind, raise, count);
    return this;
  }

  // ---- state the model and users look at ---------------------------------

  get command(): number { return this.config.u16(R.PCI_COMMAND); }

  get busMaster(): boolean {
    return (this.command & R.PCI_COMMAND_MASTER) !== 0;
  }

  barAddress(i: number): bigint | undefined {
    return barAddress(this.config, this.bars, i);
  }

  /** The client's memory, while a client is attached. */
  get context(): DeviceContext | null {
    return this.ctx;
  }

  /**
   * Software misused the device: counted by kind, traced ('guest-error'
   * event), logged rate-limited. The device carries on.
   */
  guestError(kind: GuestErrorKind, message: string): void {
    this.guestErrorLog.record(kind, message);
    this.emit('guest-error', message, kind);
  }

  /** Guest errors since the device was made (or last cleared): counts by kind, the last few. */
  guestErrors(): GuestErrorSummary {
    return this.guestErrorLog.snapshot();
  }

  /** Returns the guest errors so far and starts counting from zero (tests: one check's errors at a time). */
  clearGuestErrors(): GuestErrorSummary {
    return this.guestErrorLog.clear();
  }

  private emitIrq(e: IrqEvent): void {
    this.counters.record(e);
    this.emit('irq', e);
  }

  /** Records an interrupt outcome decided outside the standard models (IMS...). */
  recordIrq(e: IrqEvent): void { this.emitIrq(e); }

  // ---- the device's own memory accesses and faults -------------------------

  /** The device is gone (surprise removal): reads all-ones, writes and interrupts lost. */
  get removed(): boolean {
    return this.gate.removed;
  }

  /**
   * A DMA read by the device (through its DMA hooks), of any length: by
   * message it goes in pieces the client survives. `signal` cancels it
   * between pieces (resetSignal).
   */
  dmaRead(address: bigint, length: number, opts: DmaReadOptions = {}): Promise<Uint8Array> {
    return this.deviceDma.read(address, length, opts);
  }

  /**
   * A DMA write by the device, posted unless told otherwise (through its DMA
   * hooks), of any length. An interrupt raised after it, even without
   * awaiting it, reaches the guest after the data (dmaOrdering).
   */
  dmaWrite(address: bigint, data: Uint8Array, opts: DmaWriteOptions = {}): Promise<void> {
    return this.deviceDma.write(address, data, opts);
  }

  /**
   * Raises an interrupt with no cause behind it (a spurious interrupt). An
   * index the device does not have is a RangeError naming the valid range
   * (never wrapped onto another vector).
   */
  spurious(kind: IrqKind, index = 0): IrqOutcome {
    if (!this.irqs.has(kind)) return this.raiseOther(kind, index);
    const bad = this.irqs.check(kind, index);
    if (bad) throw new RangeError(bad);
    return this.irqs.raise(kind, index)!;
  }

  /**
   * Raises kind/index for a cause software set up (a queue routed to a
   * vector, a register naming a slot): an index the device does not have is
   * the guest's mistake -- an 'irq-index' guest error, outcome 'unbound' --
   * not an exception in the device's code.
   */
  raiseFor(cause: string, kind: IrqKind, index: number): IrqOutcome {
    const bad = this.irqs.has(kind) ? this.irqs.check(kind, index) : `the device has no ${kind} interrupts`;
    if (bad) {
      this.guestError('irq-index', `${cause}: ${bad}`);
      return 'unbound';
    }
    return this.irqs.raise(kind, index)!;
  }

  /** Kinds neither built in nor added with addIrqKind (a subclass may still override this). */
  protected raiseOther(kind: IrqKind, _index: number): IrqOutcome {
    throw new Error(`this device has no ${kind} interrupts`);
  }

  /**
   * Surprise removal: from now on BAR reads return all-ones, writes and
   * interrupts are lost, and the client is asked to release the device (REQ).
   * Config space stays readable unless `config` is true: QEMU 11.1 aborts
   * when a vfio-user device's config space reads all-ones while it unplugs
   * it ("invalid PCI interrupt pin 255", then an assertion in
   * memory_region_del_subregion), so a faithful all-ones config space would
   * test QEMU's crash rather than the guest.
   */
  surpriseRemove(opts: { config?: boolean } = {}): void {
    this.req.fire();
    this.regions.configGoneToo = opts.config === true;
    this.gate.removed = true;
  }

  /** An uncorrectable error as AER reports it, then the ERR interrupt (src/pci/aer.ts). */
  aerError(opts: AerErrorOptions = {}): void {
    reportAerError(this.config, this.caps, () => this.err.fire(), opts);
  }

  // ---- DeviceModel ---------------------------------------------------------

  regionInfo(index: number): RegionInfoResult {
    return this.regions.info(index);
  }

  regionRead(index: number, offset: number, count: number): Uint8Array {
    return this.regions.read(index, offset, count);
  }

  regionWrite(index: number, offset: number, data: Uint8Array): void {
    this.regions.write(index, offset, data);
  }

  irqInfo(index: number): IrqInfoResult {
    const s = this.irqs.source(index);
    return s ? { count: s.count, flags: s.infoFlags } : { count: 0, flags: 0 };
  }

  setIrqs(set: IrqSet, fds: number[]): void {
    const s = this.irqs.source(set.index);
    if (!s) throw new VfioError(Errno.EINVAL, `DEVICE_SET_IRQS: the device has no interrupts of index ${set.index}`);
    applySetIrqs(s, set, fds);
  }

  reset(reason = 'device reset'): void {
    // Work started before the reset stops (its signal aborts) before the
    // registers go back to their reset values.
    const cancelled = this.resetController;
    this.resetController = new AbortController();
    cancelled.abort(resetAbort(reason));
    this.postedWrites.reset(reason);
    this.gate.reset();
    this.config.reset();
    this.irqs.reset();
    this.windows.reset();
    for (const fn of this.resetHooks) fn(reason);
    this.emit('reset', reason);
  }

  attach(ctx: DeviceContext): void {
    this.ctx = ctx;
    // A new client sees a device that is there again (a new QEMU, a re-plug).
    this.gate.removed = false;
  }

  detach(): void {
    this.postedWrites.reset('the client went away');
    this.irqs.detach();
    this.ctx = null;
  }
}

/** Why a reset aborted the signal: an AbortError naming the reset. */
function resetAbort(reason: string): Error {
  const e = new Error(`cancelled by ${reason}`);
  e.name = 'AbortError';
  return e;
}
