// The contract between the vfio-user server and a device: what the server
// needs from a device (DeviceModel; the PCI function model in src/pci/
// implements it, so can anything that speaks in regions and irq indexes),
// what a device may use while a client is attached (DeviceContext), and what
// every command handler gets (HandlerContext). The handlers live with their
// concern (here, src/irq/, src/server/); this is the layer under all of them.
import type { IrqSet, Capabilities } from '../protocol/index.ts';
import type { DmaSpace } from '../dma/dma-space.ts';
import type { Interceptor } from '../transport/interceptor.ts';

export interface RegionInfoResult {
  size: number;
  /** REGION_INFO_FLAG_* */
  flags: number;
  /** Optional capability chain bytes appended after the 32-byte structure. */
  caps?: Uint8Array;
}

export interface IrqInfoResult {
  count: number;
  /** IRQ_INFO_* */
  flags: number;
}

/** What a device may use while a client is attached. */
export interface DeviceContext {
  /** The client's memory (DMA maps, DMA_READ/DMA_WRITE). */
  readonly dma: DmaSpace;
  log(line: string): void;
}

export interface DeviceModel {
  readonly numRegions: number;
  readonly numIrqs: number;
  /** Device flags for DEVICE_GET_INFO (DEVICE_FLAGS_*). */
  readonly deviceFlags: number;
  regionInfo(index: number): RegionInfoResult;
  /** Reads `count` bytes; the handler has checked that the access lies inside the region. */
  regionRead(index: number, offset: number, count: number): Uint8Array;
  regionWrite(index: number, offset: number, data: Uint8Array): void;
  irqInfo(index: number): IrqInfoResult;
  /**
   * SET_IRQS. On success it owns `fds` (and closes any it replaces); when it
   * throws it has kept none of them.
   */
  setIrqs(set: IrqSet, fds: number[]): void;
  /** DEVICE_RESET and friends: every register, mask and pending bit to reset values. */
  reset(): void;
  /** A client finished negotiating. */
  attach(ctx: DeviceContext): void;
  /** The client went away: drop its eventfds and mappings (state is reset by the caller). */
  detach(): void;
  /**
   * The device's own interceptors on the vfio-user commands of every session
   * (its fault rules for commands), outermost first; read per command, so a
   * device may add and remove them while serving.
   */
  readonly interceptors?: readonly Interceptor<HandlerContext>[];
}

/**
 * A seam on every region access the client makes, before it reaches the
 * model: fault rules, accounting, late posted writes. read() returns the
 * bytes to answer instead (the model is not asked) or undefined; write()
 * returns true when it took the write (the model never sees it).
 */
export interface RegionAccessHook {
  read?(region: number, offset: number, count: number): Uint8Array | undefined;
  write?(region: number, offset: number, data: Uint8Array): boolean;
}

/** Limits this server announces in its VERSION reply (what it accepts). */
export interface ServerLimits {
  maxMsgFds: number;
  maxDataXferSize: number;
  maxDmaMaps: number;
  /** Offer REGION_WRITE_MULTI (when the client proposes it). */
  writeMultiple: boolean;
}

export const defaultLimits: ServerLimits = {
  maxMsgFds: 16, // QEMU 11.1 rejects a VERSION reply above 16 ("malformed max_msg_fds")
  maxDataXferSize: 1 << 20,
  maxDmaMaps: 65535,
  writeMultiple: true,
};

export interface SessionStats {
  commands: number;
  errors: number;
  postedWrites: number;
  regionReads: number;
  regionWrites: number;
}

/** What every command handler gets: the device, the client's memory, and what the two sides agreed on. */
export interface HandlerContext {
  readonly device: DeviceModel;
  readonly dma: DmaSpace;
  readonly limits: ServerLimits;
  /** The client's capabilities, once VERSION is done. */
  peer: Capabilities | undefined;
  /** What the VERSION reply granted (write_multiple only if the client offered it). */
  granted: Capabilities | undefined;
  readonly stats: SessionStats;
  log(line: string): void;
  /** Ends this client's connection. */
  close(): void;
}
