// What every command handler gets: the device, the client's memory, and what
// the two sides agreed on in VERSION.
import type { Capabilities } from '../protocol/index.ts';
import type { DeviceModel } from '../device/model.ts';
import type { DmaSpace } from '../dma/dma-space.ts';

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
