// A seeded mutation fuzzer for a vfio-user server. A case starts from
// realistic message sequences -- what QEMU 11.1 and our client send: VERSION,
// DMA_MAP with a memfd, DEVICE_GET_INFO, GET_REGION_INFO, region reads and
// writes to config space and the BARs, SET_IRQS with eventfds, MSI-X and IMS
// interrupts (device and system memory), DMA_UNMAP, DEVICE_RESET,
// REGION_WRITE_MULTI -- and mutates headers (size, flags, type, command, id),
// fields (argsz, counts, offsets, indexes, addresses), descriptors (none, too
// many, a pipe or a memfd where an eventfd belongs) and the way the bytes
// reach the socket (split anywhere, coalesced, cut short).
//
// Only generation and the framing oracle live here: no sockets. The same
// (seed, index) always gives the same case; fuzz.test.ts runs them.
import {
  Command, FLAG_NO_REPLY, FLAG_ERROR, HEADER_SIZE, MSG_TYPE_MASK, MsgType, Region, IrqIndex,
  DMA_MAP_READ, DMA_MAP_WRITE, DMA_UNMAP_ALL, DEVICE_FEATURE_GET, DEVICE_FEATURE_PROBE,
  IRQ_SET_DATA_NONE, IRQ_SET_DATA_BOOL, IRQ_SET_DATA_EVENTFD,
  IRQ_SET_ACTION_MASK, IRQ_SET_ACTION_UNMASK, IRQ_SET_ACTION_TRIGGER,
  frame, encodeVersion, encodeDmaMap, encodeDmaUnmap, encodeDeviceInfo, encodeRegionInfo, encodeIoFds,
  encodeIrqInfo, encodeIrqSet, encodeRegionAccess, encodeRegionData, encodeWriteMulti, encodeDeviceFeature,
  encodeMigData, encodeDmaRead, encodeDmaData, commandName, type WriteMultiEntry,
} from '../../src/protocol/index.ts';
import { Reg, QUEUE_BASE, QUEUE_STRIDE, Q, Q_IRQ_IMS, Q_IRQ_ENABLE, IMS_TABLE_OFFSET, MSIX_BAR, MSIX_PBA_OFFSET, CTRL_IMS_SYSMEM } from '../../src/devices/ims-queue.ts';

// ---- the PRNG: sfc32 seeded through splitmix32 -----------------------------

function splitmix32(x: number): () => number {
  return () => {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    const s = splitmix32(seed >>> 0);
    this.a = s();
    this.b = s();
    this.c = s();
    this.d = s();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** 0 <= r < n */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** lo <= r <= hi */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

/** The seed of case `index` of a run: cases can be generated independently. */
export function caseSeed(runSeed: number, index: number): number {
  return splitmix32((runSeed ^ Math.imul(index + 1, 0x27d4eb2d)) >>> 0)();
}

// ---- what a case is ----------------------------------------------------------

export type FdKind = 'eventfd' | 'memfd' | 'pipe-read' | 'pipe-write';

export interface FdSpec {
  kind: FdKind;
  /** memfd: file size (chosen after mutation so a DMA_MAP's window fits inside). */
  size?: number;
  /** memfd: contents to place before sending (an IMS slot in system memory). */
  init?: { at: number; bytes: Uint8Array }[];
}

export interface Msg {
  bytes: Uint8Array;
  fds: FdSpec[];
  what: string;
}

/** One send(2): bytes and the descriptors riding on them. */
export interface Chunk {
  bytes: Uint8Array;
  fds: FdSpec[];
  /** Let the server read what came before on its own (a separate recvmsg, most likely). */
  pauseBefore: boolean;
}

export interface FuzzCase {
  index: number;
  seed: number;
  /** Runs on a new connection that has not negotiated: the case starts with VERSION. */
  fresh: boolean;
  msgs: Msg[];
  chunks: Chunk[];
  /** The stream ends inside a message: close the socket, or pad the message to its announced size. */
  onCut: 'close' | 'pad';
  /** What the server must make of the bytes (the oracle). */
  framing: Framing;
  mutations: string[];
}

export interface DeviceLayout {
  /** Config-space offset of the MSI-X capability. */
  msixCap: number;
  /** Config-space offset of the PCI Express capability. */
  pcieCap: number;
}

export interface GenOptions {
  layout: DeviceLayout;
  /**
   * Largest message the server accepts (its max_data_xfer_size + 4096); sizes
   * outside 16..max break the framing.
   */
  maxMessageSize: number;
  /**
   * Also generate inputs that hit bugs already reported: a DMA_MAP whose memfd
   * is shorter than the window (SIGBUS when the device touches the tail), a
   * doorbell write of billions of work items (the server stalls for hours).
   */
  knownBugs: boolean;
}

// ---- interesting values ------------------------------------------------------

const U32S = [0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 20, 24, 31, 32, 33, 255, 256, 4095, 4096, 4097, 0x7fff, 0x8000, 0xffff, 0x10000,
  0x100000, 0x100001, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const U64S = [0n, 1n, 4n, 8n, 16n, 4095n, 4096n, 0x100000n, 0xfee00000n, 0xffffffffn, 0x100000000n, (1n << 53n) - 1n, 1n << 53n,
  (1n << 53n) + 1n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 4096n, (1n << 64n) - 16n, (1n << 64n) - 2n, (1n << 64n) - 1n];

/** Named fields by command: [name, payload offset, width in bytes]. */
const FIELDS: Record<number, [string, number, 2 | 4 | 8][]> = {
  [Command.VERSION]: [['major', 0, 2], ['minor', 2, 2]],
  [Command.DMA_MAP]: [['argsz', 0, 4], ['flags', 4, 4], ['offset', 8, 8], ['address', 16, 8], ['size', 24, 8]],
  [Command.DMA_UNMAP]: [['argsz', 0, 4], ['flags', 4, 4], ['address', 8, 8], ['size', 16, 8]],
  [Command.DEVICE_GET_INFO]: [['argsz', 0, 4], ['flags', 4, 4], ['num_regions', 8, 4], ['num_irqs', 12, 4]],
  [Command.DEVICE_GET_REGION_INFO]: [['argsz', 0, 4], ['flags', 4, 4], ['index', 8, 4], ['cap_offset', 12, 4], ['size', 16, 8], ['offset', 24, 8]],
  [Command.DEVICE_GET_REGION_IO_FDS]: [['argsz', 0, 4], ['flags', 4, 4], ['index', 8, 4], ['count', 12, 4]],
  [Command.DEVICE_GET_IRQ_INFO]: [['argsz', 0, 4], ['flags', 4, 4], ['index', 8, 4], ['count', 12, 4]],
  [Command.DEVICE_SET_IRQS]: [['argsz', 0, 4], ['flags', 4, 4], ['index', 8, 4], ['start', 12, 4], ['count', 16, 4]],
  [Command.REGION_READ]: [['offset', 0, 8], ['region', 8, 4], ['count', 12, 4]],
  [Command.REGION_WRITE]: [['offset', 0, 8], ['region', 8, 4], ['count', 12, 4]],
  [Command.REGION_WRITE_MULTI]: [['wr_cnt', 0, 8], ['[0].offset', 8, 8], ['[0].region', 16, 4], ['[0].count', 20, 4], ['[1].count', 44, 4]],
  [Command.DEVICE_FEATURE]: [['argsz', 0, 4], ['flags', 4, 4]],
  [Command.MIG_DATA_READ]: [['argsz', 0, 4], ['size', 4, 4]],
  [Command.MIG_DATA_WRITE]: [['argsz', 0, 4], ['size', 4, 4]],
  [Command.DMA_READ]: [['address', 0, 8], ['count', 8, 8]],
  [Command.DMA_WRITE]: [['address', 0, 8], ['count', 8, 8]],
};

// ---- realistic sequences -----------------------------------------------------

/** Where DMA windows go: a few fixed homes so maps, unmaps and IMS bases meet. */
const WINDOWS = [0x100000n, 0x200000n, 0x400000n, 0x800000n, 0x10000000n, 0x40000000n, 0x100000000n, 0xfff00000n];
const WINDOW_SIZES = [0x1000, 0x2000, 0x10000, 0x100000];

class Builder {
  readonly msgs: Msg[] = [];
  private id: number;

  constructor(readonly rng: Rng, readonly layout: DeviceLayout) {
    this.id = rng.int(0x10000);
  }

  cmd(command: number, payload: Uint8Array, what: string, opts: { fds?: FdSpec[]; posted?: boolean } = {}): void {
    this.id = (this.id + 1) & 0xffff;
    if (this.id >= 0xfff0) this.id = 1; // the runner's own ids live up there
    this.msgs.push({ bytes: frame(this.id, command, opts.posted ? FLAG_NO_REPLY : MsgType.COMMAND, payload), fds: opts.fds ?? [], what });
  }

  read(region: number, offset: number | bigint, count: number): void {
    this.cmd(Command.REGION_READ, encodeRegionAccess({ offset: BigInt(offset), region, count }), `REGION_READ r${region}+0x${offset.toString(16)} x${count}`);
  }

  write(region: number, offset: number | bigint, data: Uint8Array, posted = false): void {
    this.cmd(Command.REGION_WRITE, encodeRegionData({ offset: BigInt(offset), region, count: data.length, data }),
      `REGION_WRITE r${region}+0x${offset.toString(16)} x${data.length}${posted ? ' posted' : ''}`, { posted });
  }

  write32(region: number, offset: number, value: number, posted = false): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    this.write(region, offset, b, posted);
  }

  write16(region: number, offset: number, value: number): void {
    this.write(region, offset, new Uint8Array([value & 0xff, (value >> 8) & 0xff]));
  }

  /** Memory-BAR writes are posted under QEMU; config writes never are. */
  bar32(bar: number, offset: number, value: number): void {
    this.write32(bar, offset, value, this.rng.chance(0.7));
  }

  setIrqs(flags: number, index: number, start: number, count: number, fds: FdSpec[] = [], data?: Uint8Array): void {
    this.cmd(Command.DEVICE_SET_IRQS, encodeIrqSet({ argsz: 20 + (data?.length ?? 0), flags, index, start, count, data }),
      `SET_IRQS idx${index} ${start}+${count} flags 0x${flags.toString(16)} ${fds.length} fds`, { fds });
  }
}

const ev = (n: number): FdSpec[] => Array.from({ length: n }, () => ({ kind: 'eventfd' as const }));

function imsSlotBytes(address: bigint, data: number, masked: boolean): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, Number(address & 0xffffffffn), true);
  v.setUint32(4, Number(address >> 32n), true);
  v.setUint32(8, data >>> 0, true);
  v.setUint32(12, masked ? 1 : 0, true);
  return b;
}

const seeds: [string, number, (b: Builder) => void][] = [
  ['info', 3, (b) => {
    const r = b.rng;
    b.cmd(Command.DEVICE_GET_INFO, encodeDeviceInfo({ argsz: 16, flags: 0, numRegions: 0, numIrqs: 0 }), 'DEVICE_GET_INFO');
    for (let i = r.int(4); i >= 0; i--) {
      const index = r.pick([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      b.cmd(Command.DEVICE_GET_REGION_INFO, encodeRegionInfo({ argsz: r.pick([32, 256]), flags: 0, index, capOffset: 0, size: 0n, offset: 0n }), `GET_REGION_INFO ${index}`);
    }
    const irq = r.int(5);
    b.cmd(Command.DEVICE_GET_IRQ_INFO, encodeIrqInfo({ argsz: 16, flags: 0, index: irq, count: 0 }), `GET_IRQ_INFO ${irq}`);
    if (r.chance(0.3)) b.cmd(Command.DEVICE_GET_REGION_IO_FDS, encodeIoFds({ argsz: 16, flags: 0, index: r.int(9), count: 0 }), 'GET_REGION_IO_FDS');
  }],
  ['config', 4, (b) => {
    const r = b.rng;
    b.read(Region.CONFIG, r.pick([0, 4, 8, 0x10, 0x18, 0x2c, 0x34, b.layout.msixCap, b.layout.pcieCap, 0x100]), r.pick([1, 2, 4, 4, 4]));
    b.write16(Region.CONFIG, 4, r.pick([0x6, 0x6, 0x2, 0x0, 0x7, 0x406]));
    if (r.chance(0.3)) b.write32(Region.CONFIG, r.pick([0x10, 0x14, 0x18]), r.pick([0xfebf0000, 0xffffffff, 0x0, 0x1]));
    if (r.chance(0.3)) b.write16(Region.CONFIG, b.layout.msixCap + 2, r.pick([0x8000, 0xc000, 0x0]));
    if (r.chance(0.05)) b.write16(Region.CONFIG, b.layout.pcieCap + 8, 0x8000); // FLR
    if (r.chance(0.3)) b.read(Region.CONFIG, r.int(1024) * 4, 4);
  }],
  ['bar0', 4, (b) => {
    const r = b.rng;
    b.read(0, r.pick([Reg.ID, Reg.VERSION, Reg.NUM_QUEUES, Reg.IMS_CAP, Reg.SCRATCH, Reg.DB_COUNT, Reg.IMS_PENDING_LO]), 4);
    b.bar32(0, Reg.SCRATCH, r.u32());
    b.bar32(0, Reg.DOORBELL, r.int(4));
    if (r.chance(0.3)) b.read(0, QUEUE_BASE + r.int(8) * QUEUE_STRIDE + r.pick([0, 4, 8, 12]), 4);
    if (r.chance(0.2)) b.read(0, r.int(0x4000), r.pick([1, 2, 4, 8]));
    if (r.chance(0.2)) b.write(0, r.int(0x4000), r.bytes(r.pick([1, 2, 4, 8])), r.chance(0.5));
  }],
  ['msix-table', 2, (b) => {
    const r = b.rng;
    const v = r.int(8);
    b.bar32(MSIX_BAR, v * 16, 0xfee00000);
    b.bar32(MSIX_BAR, v * 16 + 8, 0x40 + v);
    b.bar32(MSIX_BAR, v * 16 + 12, r.pick([0, 1]));
    b.read(MSIX_BAR, MSIX_PBA_OFFSET, 8);
  }],
  ['dma-map', 4, (b) => {
    const r = b.rng;
    const address = r.pick(WINDOWS);
    const size = r.pick(WINDOW_SIZES);
    const shared = r.chance(0.75);
    const flags = r.pick([DMA_MAP_READ | DMA_MAP_WRITE, DMA_MAP_READ | DMA_MAP_WRITE, DMA_MAP_READ, DMA_MAP_WRITE]);
    b.cmd(Command.DMA_MAP, encodeDmaMap({ argsz: 32, flags, offset: 0n, address, size: BigInt(size) }),
      `DMA_MAP 0x${address.toString(16)}+0x${size.toString(16)} flags ${flags}${shared ? ' memfd' : ''}`, { fds: shared ? [{ kind: 'memfd' }] : [] });
    if (r.chance(0.5)) b.cmd(Command.DMA_UNMAP, encodeDmaUnmap({ argsz: 24, flags: 0, address, size: BigInt(size) }), `DMA_UNMAP 0x${address.toString(16)}`);
  }],
  ['dma-unmap', 2, (b) => {
    const r = b.rng;
    if (r.chance(0.3)) b.cmd(Command.DMA_UNMAP, encodeDmaUnmap({ argsz: 24, flags: DMA_UNMAP_ALL, address: 0n, size: 0n }), 'DMA_UNMAP all');
    else {
      const address = r.pick(WINDOWS);
      const size = r.chance(0.5) ? BigInt(r.pick(WINDOW_SIZES)) : 0x10000000n;
      b.cmd(Command.DMA_UNMAP, encodeDmaUnmap({ argsz: 24, flags: 0, address, size }), `DMA_UNMAP 0x${address.toString(16)}+0x${size.toString(16)}`);
    }
  }],
  ['irqs', 5, (b) => {
    const r = b.rng;
    const index = r.pick([IrqIndex.MSIX, IrqIndex.MSIX, IrqIndex.MSIX, IrqIndex.INTX, IrqIndex.ERR, IrqIndex.REQ, IrqIndex.MSI]);
    const n = index === IrqIndex.MSIX ? 8 : 1;
    const start = r.int(n);
    const count = 1 + r.int(n - start);
    switch (r.int(7)) {
      case 0: // QEMU turning MSI-X on: TRIGGER with no data
        b.setIrqs(IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, index, 0, 1);
        break;
      case 1:
      case 2:
        b.setIrqs(IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, index, start, count, ev(count));
        break;
      case 3: // release
        b.setIrqs(IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, index, start, count);
        break;
      case 4:
        b.setIrqs(IRQ_SET_DATA_BOOL | IRQ_SET_ACTION_TRIGGER, index, start, count, [], r.bytes(count).map((x) => x & 1));
        break;
      case 5:
        b.setIrqs(IRQ_SET_DATA_NONE | r.pick([IRQ_SET_ACTION_MASK, IRQ_SET_ACTION_UNMASK]), index, start, count);
        break;
      default: // disable the whole index
        b.setIrqs(IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, index, 0, 0);
    }
  }],
  ['fire-msix', 3, (b) => {
    const r = b.rng;
    const q = r.int(8);
    const v = r.int(8);
    b.write16(Region.CONFIG, 4, 0x6);
    b.write16(Region.CONFIG, b.layout.msixCap + 2, 0x8000);
    b.setIrqs(IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, IrqIndex.MSIX, v, 1, ev(1));
    b.bar32(0, QUEUE_BASE + q * QUEUE_STRIDE + Q.IRQ, Q_IRQ_ENABLE | v);
    b.bar32(0, QUEUE_BASE + q * QUEUE_STRIDE + Q.DOORBELL, 1 + r.int(3));
  }],
  ['fire-ims', 3, (b) => {
    const r = b.rng;
    const q = r.int(8);
    const slot = r.int(64);
    const at = IMS_TABLE_OFFSET + slot * 16;
    const address = r.pick([0xfee00000n, 0xfee00000n, r.pick(WINDOWS), 0n, 0xdead0000n]);
    b.write16(Region.CONFIG, 4, r.chance(0.9) ? 0x6 : 0x2);
    if (r.chance(0.5)) {
      const bytes = imsSlotBytes(address, 0x30 + slot, r.chance(0.2));
      const v = new DataView(bytes.buffer);
      b.cmd(Command.REGION_WRITE_MULTI, encodeWriteMulti([0, 4, 8, 12].map((o): WriteMultiEntry => ({
        offset: BigInt(at + o), region: 0, count: 4, data: new Uint8Array(bytes.buffer, o, 4),
      }))), `REGION_WRITE_MULTI IMS slot ${slot} -> 0x${address.toString(16)} data 0x${v.getUint32(8, true).toString(16)}`);
    } else {
      b.bar32(0, at, Number(address & 0xffffffffn));
      b.bar32(0, at + 4, Number(address >> 32n));
      b.bar32(0, at + 8, 0x30 + slot);
      b.bar32(0, at + 12, 0);
    }
    b.bar32(0, QUEUE_BASE + q * QUEUE_STRIDE + Q.IRQ, Q_IRQ_IMS | Q_IRQ_ENABLE | slot);
    b.bar32(0, QUEUE_BASE + q * QUEUE_STRIDE + Q.DOORBELL, 1);
  }],
  ['ims-sysmem', 3, (b) => {
    // The IMS table in guest memory: the device reads the slot by DMA when it fires.
    const r = b.rng;
    const address = r.pick(WINDOWS);
    const size = r.pick(WINDOW_SIZES);
    const slot = r.int(size >= 0x400 ? 64 : size / 16);
    const init = [{ at: slot * 16, bytes: imsSlotBytes(0xfee00000n, 0x50 + slot, r.chance(0.2)) }];
    b.cmd(Command.DMA_MAP, encodeDmaMap({ argsz: 32, flags: DMA_MAP_READ | DMA_MAP_WRITE, offset: 0n, address, size: BigInt(size) }),
      `DMA_MAP 0x${address.toString(16)}+0x${size.toString(16)} memfd (IMS table)`, { fds: [{ kind: 'memfd', init }] });
    b.write16(Region.CONFIG, 4, 0x6);
    const base = r.chance(0.8) ? address : r.pick([address + BigInt(size) - 8n, 0xdead0000n, (1n << 64n) - 16n]);
    b.bar32(0, Reg.IMS_BASE_LO, Number(base & 0xffffffffn));
    b.bar32(0, Reg.IMS_BASE_HI, Number(base >> 32n));
    b.bar32(0, Reg.CTRL, CTRL_IMS_SYSMEM);
    const q = r.int(8);
    b.bar32(0, QUEUE_BASE + q * QUEUE_STRIDE + Q.IRQ, Q_IRQ_IMS | Q_IRQ_ENABLE | slot);
    b.bar32(0, QUEUE_BASE + q * QUEUE_STRIDE + Q.DOORBELL, 1 + r.int(2));
    if (r.chance(0.3)) b.bar32(0, Reg.IMS_UNMASK, slot);
    if (r.chance(0.4)) b.cmd(Command.DMA_UNMAP, encodeDmaUnmap({ argsz: 24, flags: 0, address, size: BigInt(size) }), `DMA_UNMAP 0x${address.toString(16)} (IMS table)`);
    if (r.chance(0.5)) b.bar32(0, Reg.CTRL, 0);
  }],
  ['write-multi', 2, (b) => {
    const r = b.rng;
    const n = r.range(1, 6);
    const entries: WriteMultiEntry[] = Array.from({ length: n }, () => {
      const region = r.pick([0, 0, 0, Region.CONFIG, MSIX_BAR]);
      const offset = region === 0 ? r.pick([Reg.SCRATCH, Reg.DOORBELL, IMS_TABLE_OFFSET + r.int(256) * 4]) : r.int(64) * 4;
      const count = r.pick([4, 4, 4, 1, 2, 8]);
      return { offset: BigInt(offset), region, count, data: r.bytes(count) };
    });
    b.cmd(Command.REGION_WRITE_MULTI, encodeWriteMulti(entries), `REGION_WRITE_MULTI x${n}`);
  }],
  ['reset', 1, (b) => {
    b.cmd(Command.DEVICE_RESET, new Uint8Array(0), 'DEVICE_RESET');
  }],
  ['rare', 1, (b) => {
    const r = b.rng;
    switch (r.int(4)) {
      case 0:
        b.cmd(Command.DEVICE_FEATURE, encodeDeviceFeature({ argsz: 16, flags: r.pick([DEVICE_FEATURE_GET, DEVICE_FEATURE_PROBE]) | r.int(3), data: new Uint8Array(8) }), 'DEVICE_FEATURE');
        break;
      case 1:
        b.cmd(r.pick([Command.MIG_DATA_READ, Command.MIG_DATA_WRITE]), encodeMigData({ argsz: 8 + 16, size: 16, data: new Uint8Array(16) }), 'MIG_DATA');
        break;
      case 2:
        b.cmd(Command.DMA_READ, encodeDmaRead({ address: 0x100000n, count: 4 }), 'DMA_READ to a server');
        break;
      default:
        b.cmd(Command.DMA_WRITE, encodeDmaData({ address: 0xfee00000n, count: 4, data: new Uint8Array(4) }), 'DMA_WRITE to a server');
    }
  }],
];
const seedWeights = seeds.reduce((n, s) => n + s[1], 0);

function pickSeed(r: Rng): [string, (b: Builder) => void] {
  let x = r.int(seedWeights);
  for (const [name, w, fn] of seeds) {
    if (x < w) return [name, fn];
    x -= w;
  }
  throw new Error('unreachable');
}

function versionMsg(b: Builder): void {
  const r = b.rng;
  const caps: Record<string, unknown> = {
    max_msg_fds: r.pick([1, 8, 16, 253]),
    max_data_xfer_size: r.pick([4096, 1 << 16, 1 << 20, 1 << 20]),
    pgsizes: 4096,
    write_multiple: r.chance(0.8),
  };
  if (r.chance(0.2)) caps.migration = { pgsize: 4096, max_bitmap_size: 1 << 20 };
  if (r.chance(0.1)) caps.unknown_key = [1, 2, 3];
  b.cmd(Command.VERSION, encodeVersion({ major: 0, minor: r.pick([0, 0, 1]), json: r.chance(0.95) ? { capabilities: caps } : undefined }), 'VERSION');
}

// ---- mutations ---------------------------------------------------------------

const h32 = (m: Msg, at: number) => new DataView(m.bytes.buffer, m.bytes.byteOffset).getUint32(at, true);
const setH32 = (m: Msg, at: number, v: number) => new DataView(m.bytes.buffer, m.bytes.byteOffset).setUint32(at, v >>> 0, true);
const commandOf = (m: Msg) => m.bytes[2] | (m.bytes[3] << 8);

function resize(m: Msg, payload: Uint8Array): void {
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  out.set(m.bytes.subarray(0, HEADER_SIZE));
  out.set(payload, HEADER_SIZE);
  m.bytes = out;
  setH32(m, 4, out.length);
}

function setField(m: Msg, at: number, width: 2 | 4 | 8, value: bigint): void {
  const v = new DataView(m.bytes.buffer, m.bytes.byteOffset + HEADER_SIZE);
  if (at + width > v.byteLength) return;
  if (width === 2) v.setUint16(at, Number(value & 0xffffn), true);
  else if (width === 4) v.setUint32(at, Number(value & 0xffffffffn), true);
  else v.setBigUint64(at, value & ((1n << 64n) - 1n), true);
}

function interesting(r: Rng, width: 2 | 4 | 8): bigint {
  if (width === 8) return r.chance(0.8) ? r.pick(U64S) : r.u64();
  const v = BigInt(r.chance(0.8) ? r.pick(U32S) : r.u32());
  return width === 2 ? v & 0xffffn : v;
}

type Mutator = (r: Rng, c: { msgs: Msg[]; opts: GenOptions }) => string | undefined;

const mutators: [string, number, Mutator][] = [
  ['field', 10, (r, { msgs }) => {
    const m = r.pick(msgs);
    const fields = FIELDS[commandOf(m)];
    if (!fields) return undefined;
    const [name, at, width] = r.pick(fields);
    const v = interesting(r, width);
    setField(m, at, width, v);
    return `${m.what}: ${name} = 0x${v.toString(16)}`;
  }],
  ['word', 5, (r, { msgs }) => {
    const m = r.pick(msgs);
    const len = m.bytes.length - HEADER_SIZE;
    const width = r.pick([2, 4, 8] as const);
    if (len < width) return undefined;
    const at = r.int(Math.floor((len - width) / width) + 1) * width;
    const v = interesting(r, width);
    setField(m, at, width, v);
    return `${m.what}: payload u${width * 8}@${at} = 0x${v.toString(16)}`;
  }],
  ['bitflip', 3, (r, { msgs }) => {
    const m = r.pick(msgs);
    const len = m.bytes.length - HEADER_SIZE;
    if (len === 0) return undefined;
    const n = r.range(1, 4);
    for (let i = 0; i < n; i++) m.bytes[HEADER_SIZE + r.int(len)] ^= 1 << r.int(8);
    return `${m.what}: ${n} bit(s) flipped`;
  }],
  ['truncate', 4, (r, { msgs }) => {
    const m = r.pick(msgs);
    const len = m.bytes.length - HEADER_SIZE;
    if (len === 0) return undefined;
    const keep = r.int(len);
    resize(m, m.bytes.slice(HEADER_SIZE, HEADER_SIZE + keep));
    return `${m.what}: payload cut to ${keep} of ${len} bytes (size follows)`;
  }],
  ['extend', 3, (r, { msgs }) => {
    const m = r.pick(msgs);
    const extra = r.pick([1, 3, 4, 8, 16, 100, 4096]);
    const p = new Uint8Array(m.bytes.length - HEADER_SIZE + extra);
    p.set(m.bytes.subarray(HEADER_SIZE));
    p.set(r.bytes(Math.min(extra, 64)), p.length - extra);
    resize(m, p);
    return `${m.what}: ${extra} bytes appended (size follows)`;
  }],
  ['size', 4, (r, { msgs, opts }) => {
    const m = r.pick(msgs);
    const real = m.bytes.length;
    const v = r.pick([
      real + r.range(1, 8), Math.max(0, real - r.range(1, 8)), r.int(HEADER_SIZE), HEADER_SIZE, r.range(HEADER_SIZE, 1 << 12),
      opts.maxMessageSize, opts.maxMessageSize + 1, 0xffffffff, r.u32(),
    ]);
    setH32(m, 4, v);
    return `${m.what}: header size ${v} (real ${real})`;
  }],
  ['flags', 5, (r, { msgs }) => {
    const m = r.pick(msgs);
    const old = h32(m, 8);
    const v = r.pick([old ^ FLAG_NO_REPLY, old | FLAG_ERROR, (old & ~MSG_TYPE_MASK) | MsgType.REPLY, (old & ~MSG_TYPE_MASK) | r.range(2, 15),
      FLAG_NO_REPLY | FLAG_ERROR, r.u32()]);
    setH32(m, 8, v);
    return `${m.what}: flags 0x${v.toString(16)}`;
  }],
  ['command', 3, (r, { msgs }) => {
    const m = r.pick(msgs);
    const v = r.pick([r.range(0, 20), 14, 0xffff, r.int(0x10000)]);
    m.bytes[2] = v & 0xff;
    m.bytes[3] = v >> 8;
    return `${m.what}: command ${commandName(v)}`;
  }],
  ['id-error', 2, (r, { msgs }) => {
    const m = r.pick(msgs);
    if (r.chance(0.5)) {
      const v = r.int(0x10000);
      m.bytes[0] = v & 0xff;
      m.bytes[1] = v >> 8;
      return `${m.what}: id ${v}`;
    }
    setH32(m, 12, r.u32());
    return `${m.what}: errno field set`;
  }],
  ['fds', 5, (r, { msgs }) => {
    const m = r.pick(msgs);
    const kinds: FdKind[] = ['eventfd', 'memfd', 'pipe-read', 'pipe-write'];
    switch (r.int(4)) {
      case 0:
        if (!m.fds.length) return undefined;
        m.fds = [];
        return `${m.what}: descriptors dropped`;
      case 1: {
        const n = r.pick([1, 2, 15, 16, 17, 20]);
        m.fds = [...m.fds, ...Array.from({ length: n }, () => ({ kind: r.pick(kinds) }))];
        return `${m.what}: ${n} descriptors added (${m.fds.length} in all)`;
      }
      default: {
        const kind = r.pick(kinds);
        if (!m.fds.length) m.fds = [{ kind }];
        else m.fds = m.fds.map((f) => ({ ...f, kind: r.chance(0.7) ? kind : f.kind }));
        return `${m.what}: descriptors now ${m.fds.map((f) => f.kind).join(',')}`;
      }
    }
  }],
  ['dup-drop-swap', 3, (r, { msgs }) => {
    const i = r.int(msgs.length);
    switch (r.int(3)) {
      case 0:
        msgs.splice(i, 0, { ...msgs[i], bytes: msgs[i].bytes.slice(), fds: msgs[i].fds.map((f) => ({ ...f })) });
        return `${msgs[i].what}: sent twice`;
      case 1:
        if (msgs.length < 2) return undefined;
        return `${msgs.splice(i, 1)[0].what}: dropped`;
      default: {
        if (i + 1 >= msgs.length) return undefined;
        [msgs[i], msgs[i + 1]] = [msgs[i + 1], msgs[i]];
        return `${msgs[i + 1].what} and ${msgs[i].what} swapped`;
      }
    }
  }],
  ['garbage', 2, (r, { msgs }) => {
    const payload = r.bytes(r.pick([0, 1, 4, 16, 20, 24, 32, 64, 200]));
    const command = r.range(0, 20);
    const m: Msg = { bytes: frame(r.int(0xfff0), command, r.pick([0, 0, FLAG_NO_REPLY, MsgType.REPLY]), payload), fds: [], what: `random ${commandName(command)}` };
    msgs.splice(r.int(msgs.length + 1), 0, m);
    return `${m.what} with ${payload.length} random payload bytes inserted`;
  }],
];
const mutatorWeights = mutators.reduce((n, m) => n + m[1], 0);

function pickMutator(r: Rng): Mutator {
  let x = r.int(mutatorWeights);
  for (const [, w, fn] of mutators) {
    if (x < w) return fn;
    x -= w;
  }
  throw new Error('unreachable');
}

// ---- a case --------------------------------------------------------------------

/** Every memfd we send is this big (sparse, so it costs nothing untouched). */
export const MEMFD_SIZE = 256 << 20;
/** Work items one doorbell write may submit before it is a known bug. */
const MAX_DOORBELL = 1024;

/**
 * Keeps cases away from bugs already reported, unless asked for them. The
 * check runs on the messages as the server will frame them (mutated sizes
 * regroup the bytes), so it holds whatever the mutations did:
 * - a DMA_MAP window beyond the end of its memfd (SIGBUS when the device
 *   touches the tail) or larger than 4 GiB (koffi.view aborts the process):
 *   the case's memfds become eventfds (mmap refuses those);
 * - a queue doorbell write of n items completes them synchronously, one
 *   interrupt each, so n near 2^32 holds the server for hours: such counts are
 *   cut down to their low byte.
 * Returns what it changed; edits `stream` in place.
 */
function avoidKnownBugs(stream: Uint8Array, frames: Frame[], memfdSize: number): { notes: string[]; memfdsAsEventfds: boolean } {
  const notes: string[] = [];
  let memfdsAsEventfds = false;
  const isDoorbell = (offset: bigint, region: number) =>
    region === 0 && offset >= BigInt(QUEUE_BASE) && offset < BigInt(QUEUE_BASE + 96 * QUEUE_STRIDE) && (offset - BigInt(QUEUE_BASE)) % BigInt(QUEUE_STRIDE) === BigInt(Q.DOORBELL);
  for (const f of frames) {
    const v = new DataView(stream.buffer, stream.byteOffset + f.at + HEADER_SIZE, f.size - HEADER_SIZE);
    const tame = (at: number) => {
      const n = v.getUint32(at, true);
      if (n <= MAX_DOORBELL) return;
      v.setUint32(at, n & 0xff, true);
      notes.push(`#${f.id}: doorbell count ${n} cut to ${n & 0xff} (known bug otherwise)`);
    };
    if (f.command === Command.DMA_MAP && v.byteLength >= 32) {
      const offset = v.getBigUint64(8, true);
      const size = v.getBigUint64(24, true);
      if (offset + size > BigInt(memfdSize) || size > 1n << 32n) {
        if (!memfdsAsEventfds) notes.push(`#${f.id}: DMA_MAP of 0x${size.toString(16)} bytes at file offset 0x${offset.toString(16)}: memfds sent as eventfds (known bug otherwise)`);
        memfdsAsEventfds = true;
      }
    }
    if (f.command === Command.REGION_WRITE && v.byteLength >= 20 && isDoorbell(v.getBigUint64(0, true), v.getUint32(8, true))) tame(16);
    if (f.command === Command.REGION_WRITE_MULTI) {
      for (let at = 8; at + 24 <= v.byteLength; at += 24) if (isDoorbell(v.getBigUint64(at, true), v.getUint32(at + 8, true))) tame(at + 16);
    }
  }
  return { notes, memfdsAsEventfds };
}

export function generateCase(runSeed: number, index: number, opts: GenOptions): FuzzCase {
  const seed = caseSeed(runSeed, index);
  const r = new Rng(seed);
  const b = new Builder(r, opts.layout);
  const fresh = r.chance(0.06);
  if (fresh) versionMsg(b);
  const parts: string[] = [];
  for (let n = r.range(1, 4); n > 0; n--) {
    const [name, fn] = pickSeed(r);
    parts.push(name);
    fn(b);
  }
  const msgs = b.msgs;
  const mutations: string[] = [`seeds: ${fresh ? 'VERSION, ' : ''}${parts.join(', ')}`];
  // About one case in six goes through unmutated: the sequences themselves must work.
  const count = r.chance(0.15) ? 0 : r.pick([1, 1, 1, 2, 2, 3, 5]);
  for (let i = 0; i < count; i++) {
    const what = pickMutator(r)(r, { msgs, opts });
    if (what) mutations.push(what);
  }

  // How the bytes reach the socket: one send per message (QEMU's way), split
  // anywhere, or coalesced; sometimes the stream stops inside a message, and
  // is then closed or padded to the size its header announces.
  const whole = concat(msgs.map((m) => m.bytes));
  const starts: number[] = [];
  msgs.reduce((at, m) => (starts.push(at), at + m.bytes.length), 0);
  const fdsAt = new Map<number, FdSpec[]>();
  msgs.forEach((m, i) => { if (m.fds.length) fdsAt.set(starts[i], m.fds); });
  let cuts: number[];
  const style = r.int(10);
  if (style < 6) cuts = starts.slice(1);
  else if (style < 9) {
    // Split anywhere, headers included; each message's descriptors ride on the
    // piece holding its first byte.
    const set = new Set(starts.slice(1));
    for (let n = r.range(1, 8); n > 0; n--) set.add(1 + r.int(Math.max(1, whole.length - 1)));
    cuts = [...set].sort((a, b) => a - b);
    mutations.push(`split into ${cuts.length + 1} pieces`);
  } else {
    cuts = [];
    mutations.push('all in one send');
  }
  let end = whole.length;
  if (r.chance(0.08) && whole.length > 1) {
    end = 1 + r.int(whole.length - 1);
    mutations.push(`stream stops at byte ${end} of ${whole.length}`);
  }
  const onCut = r.chance(0.5) ? 'close' : 'pad';
  let stream = whole.subarray(0, end);
  const bounds = [0, ...cuts.filter((c) => c < end), end];
  if (onCut === 'pad') {
    const pad = padding(stream, opts.maxMessageSize);
    if (pad.length) {
      stream = concat([stream, pad]);
      bounds.push(stream.length);
      mutations.push(`padded with ${pad.length} zero bytes`);
    }
  }
  const framing = frameStream(stream, opts.maxMessageSize);
  if (framing.bad) {
    // Nothing after the bad header: a socket closed with unread data makes the
    // peer's poll report an error, and the client would then drop replies it
    // has not read yet (reported against ffi/poll.ts).
    const stop = framing.bad.at + HEADER_SIZE;
    stream = stream.subarray(0, stop);
    while (bounds[bounds.length - 1] > stop) bounds.pop();
    if (bounds[bounds.length - 1] < stop) bounds.push(stop);
  } else {
    stream = stream.slice();
  }
  let memfdsAsEventfds = false;
  if (!opts.knownBugs) {
    const known = avoidKnownBugs(stream, framing.frames, MEMFD_SIZE);
    mutations.push(...known.notes);
    memfdsAsEventfds = known.memfdsAsEventfds;
  }
  const chunks: Chunk[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const [s, e] = [bounds[i], bounds[i + 1]];
    const fds: FdSpec[] = [];
    for (const [at, list] of fdsAt) if (at >= s && at < e) fds.push(...list);
    const sized = fds.map((f): FdSpec => {
      if (f.kind !== 'memfd') return f;
      if (memfdsAsEventfds) return { kind: 'eventfd' };
      // With known bugs asked for, memfds are only as big as the seeds made their windows.
      return { ...f, size: opts.knownBugs ? Math.max(4096, ...(f.init ?? []).map((x) => x.at + x.bytes.length)) : MEMFD_SIZE };
    });
    chunks.push({ bytes: stream.subarray(s, e), fds: sized, pauseBefore: i > 0 && (style >= 6 || e === stream.length && s >= end || r.chance(0.1)) });
  }
  return { index, seed, fresh, msgs, chunks, onCut, framing, mutations };
}

// ---- the oracle: what the server must make of the bytes -------------------------

export interface Frame {
  at: number;
  id: number;
  command: number;
  size: number;
  flags: number;
}

export interface Framing {
  /** Complete messages, in order, up to a framing error if there is one. */
  frames: Frame[];
  /** A message size outside 16..max: the server must close the connection after answering what came before. */
  bad?: { at: number; size: number };
  /** Bytes of an unfinished message at the end. */
  partial: number;
}

export function frameStream(bytes: Uint8Array, maxMessageSize: number): Framing {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: Frame[] = [];
  let at = 0;
  while (bytes.length - at >= HEADER_SIZE) {
    const size = v.getUint32(at + 4, true);
    if (size < HEADER_SIZE || size > maxMessageSize) return { frames, bad: { at, size }, partial: 0 };
    if (at + size > bytes.length) break;
    frames.push({ at, id: v.getUint16(at, true), command: v.getUint16(at + 2, true), size, flags: v.getUint32(at + 8, true) });
    at += size;
  }
  return { frames, partial: bytes.length - at };
}

/** Zero bytes that complete an unfinished last message (header first, then its announced size). */
export function padding(bytes: Uint8Array, maxMessageSize: number): Uint8Array {
  let extra: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < 2; i++) {
    const all = concat([bytes, extra]);
    const f = frameStream(all, maxMessageSize);
    if (f.bad || f.partial === 0) break;
    const at = all.length - f.partial;
    const need = f.partial < HEADER_SIZE ? HEADER_SIZE - f.partial : new DataView(all.buffer).getUint32(at + 4, true) - f.partial;
    extra = concat([extra, new Uint8Array(need)]);
  }
  return extra;
}

/** Whether the server owes this message a reply: commands (and bad types) without NO_REPLY; never replies. */
export function owesReply(f: Frame): boolean {
  return (f.flags & MSG_TYPE_MASK) !== MsgType.REPLY && (f.flags & FLAG_NO_REPLY) === 0;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

const hex = (b: Uint8Array, max = 48) => [...b.subarray(0, max)].map((x) => x.toString(16).padStart(2, '0')).join('') + (b.length > max ? `..(${b.length})` : '');

/** The case as a person reads it in a failure message. */
export function describeCase(c: FuzzCase): string {
  const lines = [`case ${c.index} (case seed ${c.seed})${c.fresh ? ', on a fresh connection' : ''}, cut: ${c.onCut}`];
  for (const m of c.mutations) lines.push(`  ${m}`);
  for (const m of c.msgs) lines.push(`  msg ${m.what}: ${hex(m.bytes)}${m.fds.length ? ` fds ${m.fds.map((f) => f.kind).join(',')}` : ''}`);
  lines.push(`  sends: ${c.chunks.map((ch) => `${ch.bytes.length}${ch.fds.length ? `+${ch.fds.length}fd` : ''}`).join(' ')}`);
  return lines.join('\n');
}
