// A PCI Express function as vfio-user serves it: config space (region 7),
// BARs (regions 0-5) made of windows (register maps, MSI-X table and PBA,
// memory), the expansion ROM (region 6), and its interrupts (INTx, MSI, MSI-X,
// ERR, REQ). Resets -- DEVICE_RESET, FLR, a client leaving -- put every
// register, mask and pending bit back to its reset value.
import { EventEmitter } from 'node:events';
import {
  DEVICE_FLAGS_PCI, DEVICE_FLAGS_RESET, PCI_NUM_REGIONS, PCI_NUM_IRQS, Region, IrqIndex,
  REGION_INFO_FLAG_READ, REGION_INFO_FLAG_WRITE, Errno, VfioError, type IrqSet,
} from '../protocol/index.ts';
import type { DeviceContext, DeviceModel, HandlerContext, IrqInfoResult, RegionInfoResult } from '../device/model.ts';
import type { Interceptor } from '../transport/interceptor.ts';
import { faultInterceptor } from '../faults/interceptor.ts';
import type { RegisterMap } from '../device/register-map.ts';
import { ConfigSpace } from './config-space.ts';
import { buildCapabilities, type CapabilitySpec, type CapabilityOffsets } from './capabilities.ts';
import { installBars, installRom, barAddress, type BarSpec } from './bars.ts';
import * as R from './regs.ts';
import { Msix } from '../irq/msix.ts';
import { clientTableProbe } from '../irq/msix-probe.ts';
import { Msi } from '../irq/msi.ts';
import { Intx } from '../irq/intx.ts';
import { SignalIrq } from '../irq/simple.ts';
import { applySetIrqs, type IrqSource } from '../irq/set-irqs.ts';
import { IrqCounters, type IrqEvent, type IrqKind, type IrqOutcome } from '../irq/events.ts';
import { FaultEngine } from '../faults/engine.ts';
import { IrqGate } from '../faults/irq-gate.ts';
import { reportAerError, type AerErrorOptions } from '../faults/device-faults.ts';
import { deviceDmaRead, deviceDmaWrite } from '../dma/device-dma.ts';

/** A piece of a BAR with its own behaviour. */
export interface BarWindow {
  name: string;
  offset: number;
  size: number;
  read(offset: number, length: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
  reset?(): void;
}

export interface PciIds {
  vendor: number;
  device: number;
  subsystemVendor?: number;
  subsystem?: number;
  revision?: number;
  /** 24-bit class code: base class, sub-class, programming interface. */
  classCode: number;
}

export interface PciFunctionSpec {
  ids: PciIds;
  /** PCI Express (4 KiB config space, Express capability); default true. */
  express?: boolean;
  bars?: Partial<Record<0 | 1 | 2 | 3 | 4 | 5, BarSpec>>;
  rom?: Uint8Array;
  capabilities?: Omit<CapabilitySpec, 'pcie'> & { pcie?: CapabilitySpec['pcie'] };
  /** Interrupt pin A (INTx); default true. */
  intx?: boolean;
  /** ERR and REQ irq indexes; default true. */
  err?: boolean;
  req?: boolean;
}

export interface PciFunctionEvents {
  irq: [IrqEvent];
  reset: [reason: string];
  'guest-error': [message: string];
  'config-write': [offset: number, data: Uint8Array];
}

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
  /** Where every interrupt of this device meets the fault rules. */
  readonly gate: IrqGate;
  private readonly windows: BarWindow[][] = [[], [], [], [], [], []];
  private readonly rom?: Uint8Array;
  private readonly resetHooks: ((reason: string) => void)[] = [];
  private ctx: DeviceContext | null = null;
  private readonly commandFaults = [faultInterceptor(this.faults)];

  /** Command fault rules act on every session's commands while any rule is in force. */
  get interceptors(): readonly Interceptor<HandlerContext>[] {
    return this.faults.active ? this.commandFaults : [];
  }

  constructor(readonly spec: PciFunctionSpec) {
    super();
    const express = spec.express !== false;
    this.config = new ConfigSpace(express ? R.PCI_CFG_SPACE_EXP_SIZE : R.PCI_CFG_SPACE_SIZE);
    const c = this.config;
    const ids = spec.ids;
    c.setU16(R.PCI_VENDOR_ID, ids.vendor);
    c.setU16(R.PCI_DEVICE_ID, ids.device);
    c.setU8(R.PCI_REVISION_ID, ids.revision ?? 0);
    c.setU8(R.PCI_CLASS_PROG, ids.classCode & 0xff);
    c.setU16(R.PCI_CLASS_PROG + 1, (ids.classCode >> 8) & 0xffff);
    c.setU16(R.PCI_SUBSYSTEM_VENDOR_ID, ids.subsystemVendor ?? ids.vendor);
    c.setU16(R.PCI_SUBSYSTEM_ID, ids.subsystem ?? 0);
    c.setWritable(R.PCI_COMMAND, 2, R.PCI_COMMAND_IO | R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER |
      R.PCI_COMMAND_PARITY | R.PCI_COMMAND_SERR | R.PCI_COMMAND_INTX_DISABLE);
    c.setW1c(R.PCI_STATUS, 2, R.PCI_STATUS_PARITY | R.PCI_STATUS_SIG_TARGET_ABORT | R.PCI_STATUS_REC_TARGET_ABORT |
      R.PCI_STATUS_REC_MASTER_ABORT | R.PCI_STATUS_SIG_SYSTEM_ERROR | R.PCI_STATUS_DETECTED_PARITY);
    c.setWritable(R.PCI_CACHE_LINE_SIZE, 1, 0xff);
    c.setWritable(R.PCI_INTERRUPT_LINE, 1, 0xff);

    this.bars = [0, 1, 2, 3, 4, 5].map((i) => spec.bars?.[i as 0]);
    installBars(c, this.bars);
    if (spec.rom) {
      const size = Math.max(2048, 2 ** Math.ceil(Math.log2(spec.rom.length)));
      installRom(c, size);
      this.rom = new Uint8Array(size);
      this.rom.set(spec.rom);
    }

    const hasIntx = spec.intx !== false;
    if (hasIntx) c.setU8(R.PCI_INTERRUPT_PIN, 1);
    this.caps = buildCapabilities(c, { ...spec.capabilities, pcie: express ? spec.capabilities?.pcie ?? true : undefined });
    const emit = (e: IrqEvent) => this.emitIrq(e);
    this.gate = new IrqGate(this.faults, emit);
    this.intx = new Intx(hasIntx ? 1 : 0, c, emit, this.gate);
    this.err = new SignalIrq('err', spec.err === false ? 0 : 1, emit, this.gate);
    this.req = new SignalIrq('req', spec.req === false ? 0 : 1, emit, this.gate);
    const busMaster = () => this.busMaster;

    const mx = spec.capabilities?.msix;
    if (mx && this.caps.msix !== undefined) {
      const bar = this.bars[mx.bar];
      if (!bar || bar.type === 'io') throw new Error(`MSI-X lives in BAR${mx.bar}, which must be a memory BAR`);
      const msix = new Msix(mx.vectors, {
        config: c, capOffset: this.caps.msix, busMaster, emit, gate: this.gate, faults: this.faults,
        probeMask: clientTableProbe(this, mx),
      });
      this.msix = msix;
      this.addWindow(mx.bar, { name: 'MSI-X table', offset: mx.tableOffset, size: msix.tableSize, read: (o, n) => msix.tableRead(o, n), write: (o, d) => msix.tableWrite(o, d) });
      this.addWindow(mx.bar, { name: 'MSI-X PBA', offset: mx.pbaOffset, size: msix.pbaSize, read: (o, n) => msix.pbaRead(o, n), write: () => {} });
      c.onWrite(this.caps.msix + R.PCI_MSIX_FLAGS, 2, () => msix.controlWritten());
    }
    const ms = spec.capabilities?.msi;
    if (ms && this.caps.msi !== undefined) {
      const msi = new Msi(ms.vectors, c, this.caps.msi, busMaster, emit, this.gate);
      this.msi = msi;
      if (ms.perVectorMask) c.onWrite(this.caps.msi + (ms.is64 !== false ? 16 : 12), 4, () => msi.maskWritten());
    }
    c.onWrite(R.PCI_COMMAND, 2, () => this.intx.commandWritten());
    if (this.caps.pcie !== undefined) {
      c.onWrite(this.caps.pcie + R.PCI_EXP_DEVCTL, 2, (_old, now) => {
        if (now & R.PCI_EXP_DEVCTL_BCR_FLR) this.reset('function level reset');
      });
    }
    c.seal();
  }

  // ---- building ----------------------------------------------------------

  /** Places a window in a BAR; windows may not overlap. */
  addWindow(bar: number, w: BarWindow): this {
    const spec = this.bars[bar];
    if (!spec) throw new Error(`BAR${bar} is not declared`);
    if (w.offset < 0 || w.offset + w.size > spec.size) throw new Error(`${w.name}: [0x${w.offset.toString(16)}, +0x${w.size.toString(16)}) does not fit BAR${bar} (0x${spec.size.toString(16)} bytes)`);
    const clash = this.windows[bar].find((o) => w.offset < o.offset + o.size && o.offset < w.offset + w.size);
    if (clash) throw new Error(`${w.name} overlaps ${clash.name} in BAR${bar}`);
    this.windows[bar].push(w);
    this.windows[bar].sort((a, b) => a.offset - b.offset);
    return this;
  }

  /** Places a register map in a BAR at `offset` (reset with the device, guest errors reported). */
  addRegisters(bar: number, offset: number, map: RegisterMap, name = 'registers'): this {
    map.guestError = (m) => this.guestError(`BAR${bar}+0x${offset.toString(16)} ${name}: ${m}`);
    return this.addWindow(bar, { name, offset, size: map.size, read: (o, n) => map.read(o, n), write: (o, d) => map.write(o, d), reset: () => map.reset() });
  }

  onReset(fn: (reason: string) => void): this {
    this.resetHooks.push(fn);
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

  guestError(message: string): void {
    this.emit('guest-error', message);
    this.ctx?.log(`guest error: ${message}`);
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

  /** A DMA read by the device (through the fault rules). */
  dmaRead(address: bigint, length: number): Promise<Uint8Array> {
    return deviceDmaRead(this.ctx, this.faults, address, length);
  }

  /** A DMA write by the device, posted unless told otherwise (through the fault rules). */
  dmaWrite(address: bigint, data: Uint8Array, opts: { posted?: boolean } = { posted: true }): Promise<void> {
    return deviceDmaWrite(this.ctx, this.faults, address, data, opts);
  }

  /** Raises an interrupt with no cause behind it (a spurious interrupt). */
  spurious(kind: IrqKind, index = 0): IrqOutcome {
    switch (kind) {
      case 'msix': return this.msix ? this.msix.fire(index) : 'unbound';
      case 'msi': return this.msi ? this.msi.fire(index) : 'unbound';
      case 'intx': this.intx.assert(); return 'delivered';
      case 'err': this.err.fire(); return 'delivered';
      case 'req': this.req.fire(); return 'delivered';
      default: return this.raiseOther(kind, index);
    }
  }

  /** Interrupt kinds a subclass adds (IMS...). */
  protected raiseOther(kind: IrqKind, _index: number): IrqOutcome {
    throw new Error(`this device has no ${kind} interrupts`);
  }

  private removedConfigToo = false;

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
    this.removedConfigToo = opts.config === true;
    this.gate.removed = true;
  }

  /**
   * An uncorrectable error as AER reports it, then the ERR interrupt (see
   * src/faults/device-faults.ts).
   */
  aerError(opts: AerErrorOptions = {}): void {
    reportAerError(this, opts);
  }

  // ---- DeviceModel ---------------------------------------------------------

  /** Region sizes and permissions never change: computed once (every access checks them). */
  private regionInfos: RegionInfoResult[] | undefined;

  regionInfo(index: number): RegionInfoResult {
    this.regionInfos ??= Array.from({ length: PCI_NUM_REGIONS }, (_, i) => this.describeRegion(i));
    return this.regionInfos[index] ?? { size: 0, flags: 0 };
  }

  private describeRegion(index: number): RegionInfoResult {
    const rw = REGION_INFO_FLAG_READ | REGION_INFO_FLAG_WRITE;
    if (index <= Region.BAR5) {
      const b = this.bars[index];
      return b ? { size: b.size, flags: rw } : { size: 0, flags: 0 };
    }
    if (index === Region.ROM) return this.rom ? { size: this.rom.length, flags: REGION_INFO_FLAG_READ } : { size: 0, flags: 0 };
    if (index === Region.CONFIG) return { size: this.config.size, flags: rw };
    return { size: 0, flags: 0 };
  }

  regionRead(index: number, offset: number, count: number): Uint8Array {
    // A removed device answers nothing: the root port completes reads with all-ones.
    if (this.removed && (index !== Region.CONFIG || this.removedConfigToo)) return new Uint8Array(count).fill(0xff);
    if (this.faults.active) {
      const forced = this.faults.regionRead(index, offset, count);
      if (forced) return forced;
    }
    if (index === Region.CONFIG) return this.config.read(offset, count);
    if (index === Region.ROM && this.rom) return this.rom.slice(offset, offset + count);
    if (index <= Region.BAR5 && this.bars[index]) {
      if (!this.decodes(index)) {
        this.guestError(`read of BAR${index}+0x${offset.toString(16)} while its decoding is off in the command register`);
        return new Uint8Array(count).fill(0xff);
      }
      return this.barAccess(index, offset, count, undefined);
    }
    throw new VfioError(Errno.EINVAL, `region ${index} cannot be read`);
  }

  regionWrite(index: number, offset: number, data: Uint8Array): void {
    if (this.removed) return;
    if (this.faults.active && this.faults.regionWriteIgnored(index, offset, data.length)) return;
    if (index === Region.CONFIG) {
      this.config.write(offset, data);
      this.emit('config-write', offset, data);
      return;
    }
    if (index <= Region.BAR5 && this.bars[index]) {
      if (!this.decodes(index)) {
        this.guestError(`write to BAR${index}+0x${offset.toString(16)} while its decoding is off in the command register; dropped`);
        return;
      }
      this.barAccess(index, offset, data.length, data);
      return;
    }
    throw new VfioError(Errno.EINVAL, `region ${index} cannot be written`);
  }

  /** Memory/I-O decode enable for the BAR's space (PCI command register). */
  private decodes(bar: number): boolean {
    const io = this.bars[bar]!.type === 'io';
    return (this.command & (io ? R.PCI_COMMAND_IO : R.PCI_COMMAND_MEMORY)) !== 0;
  }

  /** Splits an access over the BAR's windows; bytes outside any window read 0 and ignore writes. */
  private barAccess(bar: number, offset: number, count: number, data: Uint8Array | undefined): Uint8Array {
    const out = data ? data : new Uint8Array(count);
    const end = offset + count;
    for (const w of this.windows[bar]) {
      const s = Math.max(offset, w.offset);
      const e = Math.min(end, w.offset + w.size);
      if (s >= e) continue;
      if (data) w.write(s - w.offset, data.subarray(s - offset, e - offset));
      else out.set(w.read(s - w.offset, e - s), s - offset);
    }
    return out;
  }

  private source(index: number): IrqSource | undefined {
    switch (index) {
      case IrqIndex.INTX: return this.intx;
      case IrqIndex.MSI: return this.msi;
      case IrqIndex.MSIX: return this.msix;
      case IrqIndex.ERR: return this.err;
      case IrqIndex.REQ: return this.req;
      default: return undefined;
    }
  }

  irqInfo(index: number): IrqInfoResult {
    const s = this.source(index);
    return s ? { count: s.count, flags: s.infoFlags } : { count: 0, flags: 0 };
  }

  setIrqs(set: IrqSet, fds: number[]): void {
    const s = this.source(set.index);
    if (!s) throw new VfioError(Errno.EINVAL, `DEVICE_SET_IRQS: the device has no interrupts of index ${set.index}`);
    applySetIrqs(s, set, fds);
  }

  reset(reason = 'device reset'): void {
    this.gate.reset();
    this.config.reset();
    this.msix?.reset();
    this.intx.reset();
    for (const ws of this.windows) for (const w of ws) w.reset?.();
    for (const fn of this.resetHooks) fn(reason);
    this.emit('reset', reason);
  }

  attach(ctx: DeviceContext): void {
    this.ctx = ctx;
    // A new client sees a device that is there again (a new QEMU, a re-plug).
    this.gate.removed = false;
  }

  detach(): void {
    this.msix?.detach();
    this.msi?.detach();
    this.intx.detach();
    this.err.detach();
    this.req.detach();
    this.ctx = null;
  }
}
