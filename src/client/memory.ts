// The client's side of DMA: the memory it exported with DMA_MAP, served to the
// server's DMA_READ/DMA_WRITE, and the interrupt window where a device's
// memory writes become interrupts (as an x86 LAPIC decodes 0xFEExxxxx).
import { MappedRegion, createMemFd, closeFd } from '../../ffi/index.ts';
import { Errno, VfioError } from '../protocol/index.ts';

export interface ClientWindow {
  address: bigint;
  size: number;
  region: MappedRegion;
  /** The memfd, kept so it can be sent with DMA_MAP. */
  fd: number;
}

/** A message-signalled interrupt as the interrupt controller saw it. */
export interface MsiMessage {
  address: bigint;
  data: number;
  at: number;
}

export const MSI_WINDOW_BASE = 0xfee00000n;
export const MSI_WINDOW_SIZE = 0x100000n;

export class ClientMemory {
  readonly windows: ClientWindow[] = [];
  readonly msis: MsiMessage[] = [];
  private listeners: ((m: MsiMessage) => void)[] = [];

  /** Creates a memfd-backed window of guest memory at `address`. */
  add(address: bigint, size: number): ClientWindow {
    const fd = createMemFd(`irqlab-client-${address.toString(16)}`, size);
    const region = MappedRegion.map(fd, 0n, size, true);
    const w = { address, size, region, fd };
    this.windows.push(w);
    return w;
  }

  remove(address: bigint): void {
    const i = this.windows.findIndex((w) => w.address === address);
    if (i < 0) return;
    const [w] = this.windows.splice(i, 1);
    w.region.unmap();
    closeFd(w.fd);
  }

  onMsi(fn: (m: MsiMessage) => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
    };
  }

  private find(address: bigint, length: number): ClientWindow {
    const end = address + BigInt(length);
    const w = this.windows.find((x) => address >= x.address && end <= x.address + BigInt(x.size));
    if (!w) throw new VfioError(Errno.EFAULT, `no exported memory covers ${length} bytes at 0x${address.toString(16)}`);
    return w;
  }

  read(address: bigint, length: number): Uint8Array {
    const w = this.find(address, length);
    return w.region.read(Number(address - w.address), length);
  }

  write(address: bigint, data: Uint8Array): void {
    if (address >= MSI_WINDOW_BASE && address < MSI_WINDOW_BASE + MSI_WINDOW_SIZE) {
      // Like the LAPIC: only 4-byte writes signal; shorter ones are dropped.
      if (data.length !== 4) throw new VfioError(Errno.EINVAL, `MSI write of ${data.length} bytes to 0x${address.toString(16)}: interrupt messages are 4 bytes`);
      const m = { address, data: new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true), at: Date.now() };
      this.msis.push(m);
      for (const l of this.listeners) l(m);
      return;
    }
    const w = this.find(address, data.length);
    w.region.write(Number(address - w.address), data);
  }

  close(): void {
    for (const w of this.windows.splice(0)) {
      w.region.unmap();
      closeFd(w.fd);
    }
  }
}
