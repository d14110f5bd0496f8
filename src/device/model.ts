// What the vfio-user dispatcher needs from a device. The PCI function model
// (src/pci/function.ts) implements it; so can anything else that speaks in
// regions and interrupt indexes.
import type { IrqSet } from '../protocol/index.ts';
import type { DmaSpace } from '../dma/dma-space.ts';
import type { FaultEngine } from '../faults/engine.ts';

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
  /** Reads `count` bytes; throws VfioError for an access outside the region. */
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
  /** Fault rules that also act on the protocol (command errors, late replies). */
  readonly faults?: FaultEngine;
}
